import type { AssetKey } from '../keys.js';
import type { Html } from './html.js';

/** A request as a page handler sees it: GET or HEAD, path and query only. */
export interface UiRequest {
  path: string;
  params: URLSearchParams;
}

/** What a handler answers: an HTML page (laid out by the server) or JSON text. */
export type UiResult = { kind: 'page'; title: string; body: Html; status?: number } | { kind: 'json'; text: string; status?: number };

/** A bad request a handler refuses (400 with the message as text, 404 for what does not exist). */
export class UiHttpError extends Error {
  override name = 'UiHttpError';
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface UiRoute {
  /** Matched against the whole path (anchor it); its groups are passed on. */
  pattern: RegExp;
  handle(match: RegExpExecArray, req: UiRequest): Promise<UiResult>;
}

export interface UiSection {
  title: string;
  body: Html;
}

/**
 * What a pipeline adds to `sfpipe ui` (runtime/ui knows nothing of any pipeline): its own pages
 * (linked from the navigation bar) and sections of an asset's page.
 */
export interface UiExtension {
  nav?: { label: string; href: string }[];
  routes?: UiRoute[];
  assetSections?(key: AssetKey): Promise<UiSection[]>;
}
