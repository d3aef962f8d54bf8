import { FULL_PROPS, synth } from './fixtures.ts';

/**
 * Synthesizes the full deployment with real bundling into the folder given as the first argument and prints
 * `SYNTHESIZED {templateFile, artifactId}` (JSON) on a line of its own. Run by synth.test.ts in a child process: bundling five functions blocks for
 * a long time, which in the test worker itself would starve vitest's own messages.
 */
const outdir = process.argv[2];
if (!outdir) throw new Error('usage: synth-bundled.ts <outdir>');
const { app, stack } = synth(FULL_PROPS, { bundle: true, outdir });
app.synth();
process.stdout.write(`\nSYNTHESIZED ${JSON.stringify({ templateFile: stack.templateFile, artifactId: stack.artifactId })}\n`);
