#!/bin/sh
# The first step of every entry point in package.json (npm start, npm run dev, npm test, …): on a Node.js older
# than package.json's engines, say in one line which version is needed and the one command that gets it, and stop,
# instead of a crash later (better-sqlite3 built for another Node ends in a SIGSEGV). A shell script and
# `node --version`, which starts no JavaScript engine, so the check costs a few milliseconds.
# npm sets npm_package_engines_node (from "engines": {"node": ">=22.12"}) and npm_lifecycle_event (start, dev, …).
set -eu

required=${npm_package_engines_node:?run this through npm (npm start, npm test, …)}
required=${required#>=}
actual=$(node --version)
actual=${actual#v}

# Compares major, minor, patch as numbers: 0 when $1 >= $2.
at_least() {
  IFS=. read -r a1 a2 a3 <<VERSION
$1
VERSION
  IFS=. read -r b1 b2 b3 <<VERSION
$2
VERSION
  for pair in "${a1:-0} ${b1:-0}" "${a2:-0} ${b2:-0}" "${a3:-0} ${b3:-0}"; do
    set -- $pair
    [ "$1" -gt "$2" ] && return 0
    [ "$1" -lt "$2" ] && return 1
  done
  return 0
}

if ! at_least "$actual" "$required"; then
  case "${npm_lifecycle_event:-}" in start | test) command="npm $npm_lifecycle_event" ;; *) command="npm run ${npm_lifecycle_event:-start}" ;; esac
  echo "bank-sso needs Node.js $required or later, this is $actual: run scripts/with-node.sh $command (it installs the pinned Node into .tools/)" >&2
  exit 1
fi
