import { expect, it } from 'vitest';
import { Reason, readAccessLogs } from '../../src/decode/index.ts';
import { describeSharedData, sharedPath } from '../helpers/shared.ts';

const discard = { event: () => {}, unreadable: () => {} };

describeSharedData('real files that are not usable access logs (shared/data)', () => {
  it('LP DAAC (hashed client ids, `|&|` fields): every line counted unreadable, with a clear reason', async () => {
    const path = sharedPath('data', 'lpdaac_logs_for_opendap.txt.gz');
    const stats = await readAccessLogs([path], discard);
    expect(stats.formats[path]).toBe('unrecognised');
    expect(stats.lines).toBe(478_755);
    expect(stats.events).toBe(0);
    expect(stats.unreadable).toBe(stats.lines);
    // A few paths hold commas (`?crs,lat,lon`) and read as CSV whose first field is no address.
    expect(Object.keys(stats.byReason).sort()).toEqual([Reason.clientNotIp, Reason.noIpInLine].sort());
    expect(stats.byReason[Reason.noIpInLine]).toBeGreaterThan(478_000);
    expect(stats.samples.length).toBeGreaterThan(0);
  });

  it.each(['normalTrafficTraining', 'anomalousTrafficTest'])('CSIC 2010 %s (raw HTTP): counted unreadable, no crash', async (name) => {
    const path = sharedPath('data', 'csic2010', `${name}.txt.gz`);
    const stats = await readAccessLogs([path], discard);
    expect(stats.formats[path]).toBe('unrecognised');
    expect(stats.events).toBe(0);
    expect(stats.unreadable).toBe(stats.lines);
    expect(stats.byReason[Reason.rawHttp]).toBeGreaterThan(stats.lines * 0.9);
  });
});
