// The reading thread's entry (see threaded-read.ts). Node 20 applies no ESM loader hooks in a worker, so the
// TypeScript module is loaded through tsx's CommonJS hook, which transforms it on require.
const { register } = require('tsx/cjs/api');
register();
require('./reader-thread.ts');
