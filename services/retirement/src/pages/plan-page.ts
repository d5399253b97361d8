import { formatCents, html, renderPage } from '@sso/shared'
import type { ContributionsPage } from '../plans/plans-repository.js'

export interface PlanPageView {
  username: string
  /** Of every contribution, listed or not. */
  balanceCents: number
  /** The newest contributions, or an older page of them: at most a page, so the page stays small however many. */
  contributions: ContributionsPage
  /** True when `contributions` is an older page (reached by the "older" link), not the newest. */
  isOlderPage: boolean
  csrfToken: string
  bankPublicUrl: string
  /**
   * The bank's sign-out confirm page (`GET /logout`), which comes back to the plan if the user stays signed in.
   * Signing out is the bank's: it ends the login session, and single logout tells this service.
   */
  signOutUrl: string
  /** Shown above the form when the last contribution was refused. */
  error?: string | undefined
  /** What the user typed, kept when the form comes back with an error. */
  amount?: string | undefined
}

/** The plan page: a greeting, the balance, the contribution form and the history. Every value is escaped by `html`. */
export function renderPlanPage(view: PlanPageView): string {
  const { username, balanceCents, contributions, isOlderPage, csrfToken, bankPublicUrl, signOutUrl, error, amount } =
    view
  const rows = contributions.contributions.map(
    (contribution) => html`<tr>
<td><time datetime="${contribution.createdAt}">${formatTimestamp(contribution.createdAt)}</time></td>
<td class="amount">${formatCents(contribution.amountCents)}</td>
</tr>`,
  )
  return renderPage(
    'Retirement plan',
    html`<header>
<h1>Retirement plan</h1>
<nav>
<a href="${bankPublicUrl}/">Back to the bank</a>
<a id="sign-out" href="${signOutUrl}">Sign out</a>
</nav>
</header>
<p id="greeting">Hello, <strong>${username}</strong>.</p>
<p>Plan balance: <strong id="balance">${formatCents(balanceCents)}</strong></p>
<h2>Contribute</h2>
${error ? html`<p class="error" role="alert">${error}</p>` : ''}
<form method="post" action="/contributions">
<input type="hidden" name="_csrf" value="${csrfToken}">
<label>Amount in dollars
<input name="amount" inputmode="decimal" autocomplete="off" required placeholder="100.00" value="${amount ?? ''}">
</label>
<button type="submit">Contribute</button>
</form>
<h2>${isOlderPage ? 'Older contributions' : 'Contributions'}</h2>
${
  rows.length > 0
    ? html`<table>
<thead><tr><th>Date (UTC)</th><th class="amount">Amount</th></tr></thead>
<tbody>${rows}</tbody>
</table>`
    : html`<p class="muted">${isOlderPage ? 'No older contributions.' : 'No contributions yet.'}</p>`
}
${renderPageLinks(contributions, isOlderPage)}`,
  )
}

/** Plain links, so paging works without script: each page is `/?before=<the id of the last one listed before it>`. */
function renderPageLinks({ contributions, more }: ContributionsPage, isOlderPage: boolean) {
  const last = contributions.at(-1)
  const links = [
    isOlderPage ? html`<a id="newest" href="/">Newest contributions</a>` : '',
    more && last ? html`<a id="older" href="/?before=${encodeURIComponent(last.id)}">Older contributions</a>` : '',
  ].filter((link) => link !== '')
  return links.length > 0 ? html`<nav class="pages">${links}</nav>` : ''
}

/** `/?before=` that names no contribution of the user's: a link edited by hand, or another user's. */
export function renderMissingPage(): string {
  return renderPage(
    'No such page · Retirement',
    html`<h1>No such page of contributions</h1>
<p class="error" role="alert">This link does not lead to contributions of yours.</p>
<p><a href="/">Back to your plan</a></p>`,
  )
}

/** "2026-01-31T12:34:56.789Z" → "2026-01-31 12:34". */
function formatTimestamp(isoTimestamp: string): string {
  return isoTimestamp.slice(0, 16).replace('T', ' ')
}

/** A form posted without a valid CSRF token: most often a page left open too long, or a forged post. */
export function renderExpiredFormPage(): string {
  return renderPage(
    'Form expired · Retirement',
    html`<h1>This form has expired</h1>
<p class="error" role="alert">For your safety the form could not be accepted. Nothing was saved; please try again.</p>
<p><a href="/">Back to your plan</a></p>`,
  )
}
