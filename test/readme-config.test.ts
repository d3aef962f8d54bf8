import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { parseConfig } from '../src/config.ts';

// The README's configuration example is what users copy: it must be a config this release accepts, key for key.
it('the README configuration example parses with the strict schema', () => {
  const readme = readFileSync('README.md', 'utf8');
  const section = readme.slice(readme.indexOf('## Configuration'));
  const block = /```json\n([\s\S]*?)\n```/.exec(section);
  expect(block).not.toBeNull();
  expect(() => parseConfig(JSON.parse(block![1]))).not.toThrow();
});
