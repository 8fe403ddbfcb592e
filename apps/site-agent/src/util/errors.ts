/** Base class for every error the site agent raises on purpose; `message` is one line for a person. */
export class SiteAgentError extends Error {
  override readonly name: string = 'SiteAgentError';
  constructor(
    message: string,
    readonly code: string = 'site_agent_error',
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The site folder is missing, incomplete or unreadable. */
export class SiteFolderError extends SiteAgentError {
  override readonly name = 'SiteFolderError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'site_folder', options);
  }
}

/** A task from the coordinator breaks the site's own policy; `reason` says which rule. */
export class PolicyViolationError extends SiteAgentError {
  override readonly name = 'PolicyViolationError';
  constructor(
    message: string,
    readonly rule: string,
    options?: { cause?: unknown },
  ) {
    super(message, 'policy_violation', options);
  }
}

/**
 * Talking to the coordinator failed or was refused (enrolment, authentication, transfers); `code` is
 * the coordinator's reply code where it answered. (Not the coordinator's own `CoordinatorError`, which
 * is the refusal it sends.)
 */
export class CoordinatorLinkError extends SiteAgentError {
  override readonly name = 'CoordinatorLinkError';
  constructor(message: string, code = 'coordinator', options?: { cause?: unknown }) {
    super(message, code, options);
  }
}

/** One line from any thrown value. */
export function oneLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split('\n')[0] ?? message;
}
