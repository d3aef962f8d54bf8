/**
 * API Gateway writes `-` for a missing value even where the format leaves it unquoted (`"responseLength":-`),
 * which is not JSON. This rewrites such bare dashes (and empty values, `"status":,`) to `null`, outside strings
 * only, in one linear pass. It runs only after JSON.parse has failed, so the common case stays one parse.
 *
 * Returns the repaired text, or null when there was nothing to repair.
 */
export function repairBareDashes(line: string): string | null {
  const n = line.length;
  let out = '';
  let copiedTo = 0;
  let inString = false;
  for (let i = 0; i < n; i++) {
    const c = line.charCodeAt(i);
    if (inString) {
      if (c === 92 /* \ */) i++;
      else if (c === 34 /* " */) inString = false;
      continue;
    }
    if (c === 34) {
      inString = true;
      continue;
    }
    if (c !== 58 /* : */) continue;
    const valueAt = skipSpaces(line, i + 1);
    const v = valueAt < n ? line.charCodeAt(valueAt) : -1;
    if (v === 45 /* - */) {
      const after = skipSpaces(line, valueAt + 1);
      if (after >= n || isValueEnd(line.charCodeAt(after))) {
        out += line.slice(copiedTo, valueAt) + 'null';
        copiedTo = valueAt + 1;
        i = valueAt;
      }
    } else if (v === -1 || isValueEnd(v)) {
      out += line.slice(copiedTo, i + 1) + 'null';
      copiedTo = i + 1;
    }
  }
  if (copiedTo === 0) return null;
  return out + line.slice(copiedTo);
}

function skipSpaces(s: string, i: number): number {
  while (i < s.length) {
    const c = s.charCodeAt(i);
    if (c !== 32 && c !== 9 && c !== 13 && c !== 10) break;
    i++;
  }
  return i;
}

function isValueEnd(c: number): boolean {
  return c === 44 /* , */ || c === 125 /* } */ || c === 93 /* ] */;
}
