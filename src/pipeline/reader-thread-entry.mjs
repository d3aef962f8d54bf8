// The reading thread's entry (see threaded-read.ts). Node 20 applies no ESM loader hooks of the main thread in a
// worker; tsx's tsImport loads the TypeScript module as ES modules here, whose imports are live bindings (tsx's
// CommonJS hook turns every imported call into a getter call, about 5% of this thread's time).
import { tsImport } from 'tsx/esm/api';

await tsImport('./reader-thread.ts', import.meta.url);
