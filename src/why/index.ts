// `authdb why`: why a user can or cannot see or change a table's rows.
export { explainWhy, type WhyOptions, type WhyReport, type CommandReport, type ClauseReport, type PolicyVerdict, type Outcome } from './explain.js';
export { type WhyIdentity, type AssumedIdentity } from './identity.js';
export { renderWhy } from './render.js';
export { WhyError, type WhyErrorCode } from './errors.js';
