export type { AlertEvent, AlertKind, EmailConfig, Notifier, NotifierConfig } from './types.js';
export { alertsForTransitions, isAlertingState, isPassingState, defaultCommand, type StateTransition, type TransitionOptions } from './transitions.js';
export { createNotifiers, sendAlerts, slackPayload, slackText, webhookPayload } from './notifiers.js';
export { redact, urlSecrets, stripUrlCredentials, errorText, REDACTED } from './redact.js';
export { deliver, backoffMs, parseRetryAfter, type DeliveryOptions, type DeliveryResult } from './http.js';
export { EmailNotifier, emailSubject, emailText } from './email.js';
export { alertId, trackAndEscalate, type EscalationOptions } from './escalation.js';
