import { formatCents, html, renderPage, type SafeHtml } from '@sso/shared'
import type { Account } from '../accounts/accounts-repository.js'
import type { SessionSummary } from '../sessions/sessions-repository.js'
import { DEFAULT_RETURN_TO } from './return-to.js'

export interface FormView {
  csrfToken: string
  /** Where to go after success; already checked by `resolveReturnTo`. */
  returnTo: string
  /** What the user typed, shown again after an error; never the password. */
  username?: string | undefined
  error?: string | undefined
}

function renderError(error: string | undefined): SafeHtml | undefined {
  return error === undefined ? undefined : html`<p class="error" role="alert">${error}</p>`
}

function renderReturnToField(returnTo: string): SafeHtml | undefined {
  return returnTo === DEFAULT_RETURN_TO ? undefined : html`<input type="hidden" name="return_to" value="${returnTo}">`
}

/** Carries `return_to` from one form to the other, so signing up instead of in still ends on the right page. */
function linkKeepingReturnTo(path: string, returnTo: string): string {
  return returnTo === DEFAULT_RETURN_TO ? path : `${path}?${new URLSearchParams({ return_to: returnTo })}`
}

function renderCredentialsForm(action: string, submitLabel: string, view: FormView, passwordAutocomplete: string) {
  return html`<form method="post" action="${action}">
<input type="hidden" name="_csrf" value="${view.csrfToken}">
${renderReturnToField(view.returnTo)}
<label>Username <input name="username" value="${view.username ?? ''}" autocomplete="username" required autofocus></label>
<label>Password <input type="password" name="password" autocomplete="${passwordAutocomplete}" required></label>
<button type="submit">${submitLabel}</button>
</form>`
}

/** `GET /login` and a failed `POST /login`. */
export function renderLoginPage(view: FormView): string {
  return renderPage(
    'Sign in · Bank',
    html`<h1>Sign in to the bank</h1>
${renderError(view.error)}
${renderCredentialsForm('/login', 'Sign in', view, 'current-password')}
<p class="muted">No account yet? <a href="${linkKeepingReturnTo('/register', view.returnTo)}">Open one</a>.</p>`,
  )
}

/** `GET /register` and a failed `POST /register`. */
export function renderRegisterPage(view: FormView): string {
  return renderPage(
    'Open an account · Bank',
    html`<h1>Open an account</h1>
${renderError(view.error)}
${renderCredentialsForm('/register', 'Open my account', view, 'new-password')}
<p class="muted">A username is 3 to 32 characters: letters a-z, digits, ".", "_" or "-".
A password is 8 to 128 characters.</p>
<p class="muted">Already a customer? <a href="${linkKeepingReturnTo('/login', view.returnTo)}">Sign in</a>.</p>`,
  )
}

export interface DashboardView {
  username: string
  accounts: Account[]
  retirementUrl: string
  csrfToken: string
  /** The user's live login sessions, and which one this browser holds. */
  sessions: SessionSummary[]
  currentSessionId: string
}

/** A time as people read it, in UTC so it is the same whoever renders it; the exact value is in `datetime`. */
function renderTime(milliseconds: number): SafeHtml {
  const iso = new Date(milliseconds).toISOString()
  return html`<time datetime="${iso}">${iso.slice(0, 16).replace('T', ' ')} UTC</time>`
}

/** Where the user is signed in, each with its own sign-out button, and "sign out everywhere". */
function renderSessions(sessions: SessionSummary[], currentSessionId: string, csrfToken: string): SafeHtml {
  const rows = sessions.map(
    (session) => html`<tr data-session-id="${session.id}">
<td>${session.userAgent ?? 'Unknown device'}${session.id === currentSessionId ? html` <strong>(this browser)</strong>` : ''}</td>
<td>${renderTime(session.createdAtMs)}</td>
<td>${renderTime(session.lastUsedAtMs)}</td>
<td><form class="inline" method="post" action="/sessions/end">
<input type="hidden" name="_csrf" value="${csrfToken}">
<input type="hidden" name="session_id" value="${session.id}">
<button type="submit">Sign out</button>
</form></td>
</tr>`,
  )
  return html`<section id="sessions">
<h2>Where you are signed in</h2>
<table>
<thead><tr><th>Device</th><th>Signed in</th><th>Last used</th><th></th></tr></thead>
<tbody>${rows}</tbody>
</table>
<form method="post" action="/logout">
<input type="hidden" name="_csrf" value="${csrfToken}">
<input type="hidden" name="everywhere" value="true">
<button type="submit">Sign out everywhere</button>
</form>
<p class="muted">Signing out ends the session here and, within seconds, at the retirement app too.</p>
</section>`
}

/** `GET /` for a signed-in user: balances, the way to the retirement app, the login sessions, and logout. */
export function renderDashboard(view: DashboardView): string {
  const { username, accounts, retirementUrl, csrfToken } = view
  const rows = accounts.map(
    (account) => html`<tr><td>${account.name}</td><td class="amount">${formatCents(account.balanceCents)}</td></tr>`,
  )
  return renderPage(
    'Your accounts · Bank',
    html`<header>
<h1>Hello, ${username}</h1>
<form class="inline" method="post" action="/logout">
<input type="hidden" name="_csrf" value="${csrfToken}">
<button type="submit">Sign out</button>
</form>
</header>
<table>
<thead><tr><th>Account</th><th class="amount">Balance</th></tr></thead>
<tbody>${rows}</tbody>
</table>
<p><a href="${retirementUrl}">Your retirement plan →</a> (signed in there too)</p>
${renderSessions(view.sessions, view.currentSessionId, csrfToken)}`,
  )
}

/**
 * `GET /logout`: the confirm form the retirement app's "Sign out" link opens. A GET never logs out (a link, an image
 * or a prefetch on any site could send one); the button posts with the CSRF token, like the dashboard's.
 */
export function renderLogoutPage(view: { username: string | undefined; csrfToken: string; returnTo: string }): string {
  return renderPage(
    'Sign out · Bank',
    html`<h1>Sign out?</h1>
<p>${view.username ? html`You are signed in as <strong>${view.username}</strong>. ` : ''}Signing out ends your session at the bank and at the retirement app.</p>
<form method="post" action="/logout">
<input type="hidden" name="_csrf" value="${view.csrfToken}">
<button type="submit">Sign out</button>
</form>
<p><a href="${view.returnTo}">Stay signed in</a></p>`,
  )
}

/** A form posted without a valid CSRF token: most often a page left open too long. */
export function renderExpiredFormPage(): string {
  return renderPage(
    'Form expired · Bank',
    html`<h1>This form has expired</h1>
<p class="error" role="alert">For your safety the form could not be accepted. Please try again.</p>
<p><a href="/login">Back to the bank</a></p>`,
  )
}
