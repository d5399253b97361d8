#!/usr/bin/env bash
# Runs a command on the Node.js that CI uses, installing it first if this machine's Node is another major.
#   scripts/with-node.sh npm test        one command on CI's Node
#   source scripts/with-node.sh          CI's Node first on PATH in this shell
# The binary comes from the npm registry's node-<os>-<arch> package (the one the registry's `node` package
# pulls), which ships the binary and its C headers and runs no install script. It lands in .tools/ (git-ignored).

# Exactly the version CI tests; .nvmrc and .node-version name only the major, for version managers.
pinned_node_version=24.21.0

with_node_main() {
  local repo_root want_major have_major os arch tools_dir node_home
  repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  want_major=${pinned_node_version%%.*}
  have_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo none)

  if [[ "$have_major" != "$want_major" ]]; then
    case "$(uname -s)" in Linux) os=linux ;; Darwin) os=darwin ;; *) echo "with-node: unsupported OS $(uname -s)" >&2; return 1 ;; esac
    case "$(uname -m)" in x86_64 | amd64) arch=x64 ;; aarch64 | arm64) arch=arm64 ;; *) echo "with-node: unsupported CPU $(uname -m)" >&2; return 1 ;; esac
    tools_dir="$repo_root/.tools/node-$pinned_node_version"
    node_home="$tools_dir/node_modules/node-$os-$arch"
    if [[ ! -x "$node_home/bin/node" ]]; then
      echo "with-node: installing Node.js $pinned_node_version into .tools/ (this machine has ${have_major})" >&2
      mkdir -p "$tools_dir"
      npm install --prefix "$tools_dir" --no-save --no-audit --no-fund --no-package-lock --loglevel=error \
        "node-$os-$arch@$pinned_node_version" >&2 || return 1
    fi
    export PATH="$node_home/bin:$PATH"
    # npm's own config may point nodedir at the system Node's headers; a native module built from source
    # must target this Node's ABI instead.
    export npm_config_nodedir="$node_home"
  fi
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  set -euo pipefail
  with_node_main
  (($# > 0)) || { node --version; exit 0; }
  exec "$@"
else
  with_node_main
fi
