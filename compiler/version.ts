// The compiler's name and version as written into every IR document and checkpoint.
import pkg from '../package.json' with { type: 'json' };

export const ATTNC_VERSION: string = pkg.version;
export const COMPILER_ID = `attnc ${ATTNC_VERSION}`;
