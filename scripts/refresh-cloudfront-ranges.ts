/**
 * Renews src/net/cloudfront-ranges.json, cordon's dated copy of CloudFront's address ranges, from AWS's
 * ip-ranges.json (services CLOUDFRONT and CLOUDFRONT_ORIGIN_FACING).
 *
 *   npm run refresh-cloudfront-ranges                          # download from AWS (needs the internet)
 *   npm run refresh-cloudfront-ranges -- --from ip-ranges.json # from a copy you downloaded
 *   npm run refresh-cloudfront-ranges -- --out other.json      # write elsewhere
 *
 * Nothing is written unless the document reads as ip-ranges.json with CloudFront prefixes of both families.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { cloudfrontRangesFrom } from '../src/net/proxies.ts';

const SOURCE = 'https://ip-ranges.amazonaws.com/ip-ranges.json';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      from: { type: 'string' },
      out: { type: 'string', default: fileURLToPath(new URL('../src/net/cloudfront-ranges.json', import.meta.url)) },
    },
  });
  let doc: unknown;
  if (values.from) {
    doc = JSON.parse(readFileSync(values.from, 'utf8'));
  } else {
    const res = await fetch(SOURCE, { signal: AbortSignal.timeout(30_000) });
    if (!res.ok) throw new Error(`${SOURCE}: HTTP ${res.status}`);
    doc = await res.json();
  }
  const ranges = cloudfrontRangesFrom(doc, SOURCE);
  writeFileSync(values.out!, JSON.stringify(ranges, null, 2) + '\n');
  console.log(`${values.out}: ${ranges.ipv4.length} IPv4 and ${ranges.ipv6.length} IPv6 prefixes, ip-ranges.json of ${ranges.createDate} (syncToken ${ranges.syncToken})`);
}

main().catch((err: unknown) => {
  console.error(`refresh-cloudfront-ranges: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
