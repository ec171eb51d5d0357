#!/usr/bin/env node
// The attnc command line. The TypeScript sources are compiled to dist/ by `npm ci` (the prepare script).
import { exitQuietlyOnClosedOutput, processIo } from '../dist/cli/io.js';
import { main } from '../dist/cli/main.js';
exitQuietlyOnClosedOutput();
main(process.argv.slice(2), processIo).then((code) => { process.exitCode = code; });
