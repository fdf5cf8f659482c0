/**
 * The page, bundled for the browser: written to dist/assets.js by scripts/build-web.mjs after
 * tsc, so every runtime serves it from memory (no file system on Workers).
 */

/** One file of the page. */
export interface Asset {
  /** Content-Type. */
  type: string;
  body: string;
  /** A strong ETag of `body`. */
  etag: string;
}

/** URL path → file. */
export declare const assets: Readonly<Record<string, Asset>>;
