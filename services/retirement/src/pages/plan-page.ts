import { formatCents, html, renderPage } from '@sso/shared'
import type { Plan } from '../plans/plans-repository.js'

export interface PlanPageView {
  username: string
  plan: Plan
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
  const { username, plan, csrfToken, bankPublicUrl, signOutUrl, error, amount } = view
  const rows = plan.contributions.map(
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
<p>Plan balance: <strong id="balance">${formatCents(plan.balanceCents)}</strong></p>
<h2>Contribute</h2>
${error ? html`<p class="error" role="alert">${error}</p>` : ''}
<form method="post" action="/contributions">
<input type="hidden" name="_csrf" value="${csrfToken}">
<label>Amount in dollars
<input name="amount" inputmode="decimal" autocomplete="off" required placeholder="100.00" value="${amount ?? ''}">
</label>
<button type="submit">Contribute</button>
</form>
<h2>Contributions</h2>
${
  rows.length > 0
    ? html`<table>
<thead><tr><th>Date (UTC)</th><th class="amount">Amount</th></tr></thead>
<tbody>${rows}</tbody>
</table>`
    : html`<p class="muted">No contributions yet.</p>`
}`,
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
