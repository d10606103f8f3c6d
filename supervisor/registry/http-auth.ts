// How a download proves who it is. The registry's Bearer token dance and a plain static header both fit behind
// this: headers for a request, and a chance to renew them after a 401.

export interface HttpAuth {
  /** Headers to add to a request for `url` (e.g. Authorization). */
  headers(url: string, signal?: AbortSignal): Promise<Record<string, string>>;
  /**
   * Called with a 401 answer's WWW-Authenticate header. True: new credentials were obtained, try again.
   * False: nothing more can be done, the 401 is final.
   */
  renew(url: string, challenge: string | null, signal?: AbortSignal): Promise<boolean>;
}

/** Fixed headers, e.g. an API key; a 401 is final. */
export function staticAuth(headers: Record<string, string>): HttpAuth {
  return {
    headers: () => Promise.resolve(headers),
    renew: () => Promise.resolve(false),
  };
}
