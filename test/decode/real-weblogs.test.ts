import { expect, it } from 'vitest';
import { readAccessLogs, type ReadStats } from '../../src/decode/index.ts';
import type { AccessEvent } from '../../src/events.ts';
import { describeSharedData, sharedPath } from '../helpers/shared.ts';
import { CollectingSink } from './fixtures.ts';

/** Reads one file of /work/shared/data, keeping the events for spot checks. */
async function read(relative: string): Promise<{ stats: ReadStats; events: AccessEvent[] }> {
  const sink = new CollectingSink();
  const stats = await readAccessLogs([sharedPath('data', relative)], sink);
  return { stats, events: sink.events };
}

const count = (events: AccessEvent[], pick: (e: AccessEvent) => boolean) => events.reduce((n, e) => n + (pick(e) ? 1 : 0), 0);

describeSharedData('real web-server logs (shared/data)', () => {
  it('elastic sample: 10,000 combined lines, all read', async () => {
    const { stats, events } = await read('elastic_examples_apache_logs.gz');
    expect(Object.values(stats.formats)).toEqual(['combined']);
    expect(stats.lines).toBe(10_000);
    expect(stats.events).toBeGreaterThanOrEqual(9_990);
    expect(new Set(events.map((e) => e.ip)).size).toBe(1_753);
    expect(count(events, (e) => e.status === 404)).toBe(213);
    expect(events[0].time).toBe(Date.UTC(2015, 4, 17, 10, 5, 3));
  });

  it('almhuette: combined plus an extra field; the Joomla brute force is visible', async () => {
    const { stats, events } = await read('almhuette_raith_2019-10_tail10k.log.gz');
    expect(stats.events).toBeGreaterThanOrEqual(9_900);
    expect(count(events, (e) => e.ip === '193.106.31.130' && e.method === 'POST' && e.path === '/administrator/index.php')).toBe(5_500);
    expect(events.find((e) => e.ip === '193.106.31.130')?.userAgent).toContain('MSIE 7.0; Windows NT 6.0');
  });

  it('honeynet: CONNECT, absolute URIs and binary requests read; host-name clients counted unreadable', async () => {
    const { stats, events } = await read('honeynet_redhat71_2004/httpd_access_log_2004-04-21_to_2004-10-11.log.gz');
    expect(stats.lines).toBe(37_435);
    expect(stats.events).toBeGreaterThanOrEqual(37_000);
    expect(stats.events + stats.unreadable).toBe(stats.lines);
    expect(Object.keys(stats.byReason)).toEqual(['client is not an IP address']);
    expect(count(events, (e) => e.method === 'CONNECT')).toBe(427);
    expect(count(events, (e) => e.path.startsWith('http://'))).toBeGreaterThan(900);
    expect(count(events, (e) => e.ip === '82.82.97.119')).toBe(6_152);
  });

  it.each([
    ['acunetix', 6_538, '192.168.4.25'],
    ['netsparker', 7_313, '192.168.4.164'],
    ['w3af', 3_995, '192.168.4.163'],
  ])('dvwa %s: quote-wrapped CRLF lines with payloads, nearly all read', async (tool, lines, scanner) => {
    const { stats, events } = await read(`dvwa_scanners/${tool}.txt.gz`);
    expect(Object.values(stats.formats)).toEqual(['combined']);
    expect(Math.abs(stats.lines - lines)).toBeLessThanOrEqual(1); // the files end without a newline
    expect(stats.events).toBeGreaterThanOrEqual(stats.lines - 5);
    expect(count(events, (e) => e.ip === scanner)).toBeGreaterThan(stats.lines * 0.9);
  });

  it('dvwa w3af: the authenticated user admin is the principal', async () => {
    const { events } = await read('dvwa_scanners/w3af.txt.gz');
    expect(count(events, (e) => e.principal === 'admin')).toBe(1_615);
  });

  it('hackers-access: every line read, the hidden /join_form shows', async () => {
    const { stats, events } = await read('hackers-access.log');
    expect([stats.lines, stats.events]).toEqual([3_456, 3_456]);
    expect(count(events, (e) => e.path.includes('join_form'))).toBe(1_951);
    expect(count(events, (e) => e.method === 'POST')).toBe(1_080);
  });

  it.each([
    ['secrepo/access-2018-12-15.log', 4_961],
    ['secrepo/2021-10-22_to_2021-10-27.log.gz', 5_854],
    ['secrepo/access.log.2022-12-22', 1_262],
  ])('%s: all read', async (file, lines) => {
    const { stats } = await read(file);
    expect(stats.lines).toBe(lines);
    expect(stats.events).toBeGreaterThanOrEqual(lines - 5);
  });

  it('secrepo 2018-12-15: the python-requests scraper stands out', async () => {
    const { events } = await read('secrepo/access-2018-12-15.log');
    expect(count(events, (e) => e.ip === '198.72.227.213')).toBe(4_156);
  });
});
