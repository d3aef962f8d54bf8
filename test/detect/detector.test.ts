import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config.ts';
import { Detector, type StateView } from '../../src/detect/detector.ts';
import { Windower } from '../../src/features/windower.ts';
import type { KeyState } from '../../src/ports.ts';
import { ev, MIN, spread, T0 } from '../helpers/events.ts';

// These tests are about a detector past its learning period (see the learning tests for the first hour).
const cfg = parseConfig({ learning: { windows: 0 } });

function memoryStates(): StateView & { map: Map<string, KeyState> } {
  const map = new Map<string, KeyState>();
  return { map, get: (k) => map.get(k), set: (k, s) => void map.set(k, s) };
}

/** A crowd of `n` quiet clients (2 requests each) in the window starting at `start`. */
function crowd(start: number, n = 200) {
  return Array.from({ length: n }, (_, i) => spread(2, start, () => ({ ip: `203.0.${Math.floor(i / 250)}.${(i % 250) + 1}` }))).flat();
}

function assessMinutes(minutes: ((start: number) => ReturnType<typeof ev>[])[], states = memoryStates()) {
  const w = new Windower({ sizeMs: MIN, latenessMs: 5000, ipv4Prefix: 24, ipv6Prefix: 64 });
  const d = new Detector(cfg);
  const out = [];
  for (let m = 0; m < minutes.length; m++) {
    for (const e of minutes[m](T0 + m * MIN)) w.add(e);
  }
  for (const closed of w.closeAll()) out.push(d.assess(closed, states));
  return { assessments: out, states };
}

describe('Detector', () => {
  it('acts at once on an unmistakable flood, with evidence', () => {
    const { assessments } = assessMinutes([(s) => [...crowd(s), ...spread(3000, s, () => ({ ip: '192.0.2.9', path: '/search' }))]]);
    const v = assessments[0].verdicts.find((x) => x.value === '192.0.2.9');
    expect(v).toMatchObject({ kind: 'ip', act: true, held: 'unmistakable' });
    expect(v!.features.requests).toBe(3000);
    expect(v!.populationMedianRequests).toBeLessThan(5);
  });

  it('needs k of n windows for a finding that is not unmistakable', () => {
    // 700/min: a flood finding (score 1.2), below the unmistakable 1,500.
    const heavy = (s: number) => [...crowd(s), ...spread(700, s, () => ({ ip: '192.0.2.10' }))];
    const { assessments } = assessMinutes([heavy, heavy]);
    const first = assessments[0].verdicts.find((x) => x.value === '192.0.2.10')!;
    const second = assessments[1].verdicts.find((x) => x.value === '192.0.2.10')!;
    expect(first.act).toBe(false);
    expect(first.held).toBe('1/3');
    expect(second.act).toBe(true);
    expect(second.held).toBe('2/3');
  });

  it('learns quiet windows but never an anomalous one', () => {
    const states = memoryStates();
    assessMinutes([(s) => crowd(s), (s) => [...crowd(s), ...spread(3000, s, () => ({ ip: '203.0.0.1' }))]], states);
    const s = states.map.get('i:203.0.0.1')!;
    expect(s.windows).toBe(1);
    expect(Math.expm1(s.reqMean)).toBeCloseTo(2, 5);
    expect(s.flags & 1).toBe(1);
  });

  it('marks a server-side incident and blames no client for the retries it causes', () => {
    const outage = (s: number) => [
      ...Array.from({ length: 200 }, (_, i) => spread(5, s, () => ({ ip: `203.0.1.${i + 1}`, status: 503 }))).flat(),
      ...spread(2000, s, () => ({ ip: '192.0.2.11', status: 503 })),
    ];
    const { assessments } = assessMinutes([outage]);
    expect(assessments[0].incident).toBe(true);
    expect(assessments[0].verdicts.filter((v) => v.act)).toEqual([]);
  });

  it('blocks a spread subnet flood as its prefix, not a lone heavy host as its neighbours', () => {
    const subnet = (s: number) => [...crowd(s), ...Array.from({ length: 60 }, (_, i) => spread(45, s, () => ({ ip: `198.18.7.${i + 1}` }))).flat()];
    const { assessments } = assessMinutes([subnet]);
    expect(assessments[0].verdicts.find((v) => v.value === '198.18.7.0/24')?.act).toBe(true);

    const lone = (s: number) => [...crowd(s), ...spread(3000, s, () => ({ ip: '198.18.8.1' })), ...spread(3, s, () => ({ ip: '198.18.8.2' }))];
    const loneResult = assessMinutes([lone]).assessments[0];
    expect(loneResult.verdicts.find((v) => v.value === '198.18.8.1')?.act).toBe(true);
    expect(loneResult.verdicts.find((v) => v.value === '198.18.8.0/24')?.act ?? false).toBe(false);
  });

  it('counts an IPv6 client by its /64 in the window totals', () => {
    const rotating = (s: number) => [...crowd(s, 50), ...spread(100, s, (i) => ({ ip: `2001:db8:1:2::${(i + 1).toString(16)}` }))];
    const { assessments } = assessMinutes([rotating]);
    expect(assessments[0].totalClients).toBe(51);
  });

  it('leaves keys made only of folded-in stragglers out of the population and the client count, and learns nothing from them', () => {
    const start = T0;
    const late = new Windower({ sizeMs: MIN, latenessMs: 5000, ipv4Prefix: 24, ipv6Prefix: 64 });
    // 300 clients of the minute before, one late request each, folded into this window.
    for (let i = 0; i < 300; i++) late.add(ev({ time: start - MIN + 1000, ip: `198.18.${Math.floor(i / 250)}.${(i % 250) + 1}` }));
    const judge = (withStragglers: boolean) => {
      const w = new Windower({ sizeMs: MIN, latenessMs: 5000, ipv4Prefix: 24, ipv6Prefix: 64 });
      // The crowd, and one heavy client whose verdict shows the population's median.
      for (const e of [...crowd(start), ...spread(700, start, () => ({ ip: '192.0.2.10' }))]) w.add(e);
      if (withStragglers) for (const p of late.drainPartials()) w.addPartial({ ...JSON.parse(JSON.stringify(p)), w: start }, undefined, true);
      const states = memoryStates();
      const [closed] = w.closeAll();
      return { a: new Detector(cfg).assess(closed, states), states, closed };
    };
    const plain = judge(false);
    const folded = judge(true);
    // Every straggler is in the window, with its request, and marked as such.
    expect(folded.closed.keys.byIp.size).toBe(501);
    expect([...folded.closed.keys.byIp.values()].filter((e) => e.ip.foldedOnly)).toHaveLength(300);
    expect(folded.a.totalClients).toBe(plain.a.totalClients);
    // The crowd's 2 requests a client stay the yardstick (with the stragglers' 1s in it, the median fell to 1).
    const pop = (a: typeof plain.a) => a.verdicts.find((v) => v.value === '192.0.2.10')?.populationMedianRequests;
    expect(pop(plain.a)).toBe(2);
    expect(pop(folded.a)).toBe(2);
    expect(folded.states.map.get('i:198.18.0.1')?.windows ?? 0).toBe(0);
    expect(folded.states.map.get('i:203.0.0.1')?.windows).toBe(1);
  });

  it('learns no population history from a window whose every key came late', () => {
    const states = memoryStates();
    const d = new Detector(cfg);
    const close = (start: number, folded: boolean) => {
      const stage1 = new Windower({ sizeMs: MIN, latenessMs: 5000, ipv4Prefix: 24, ipv6Prefix: 64 });
      for (const e of crowd(start - (folded ? MIN : 0))) stage1.add(e);
      const w = new Windower({ sizeMs: MIN, latenessMs: 5000, ipv4Prefix: 24, ipv6Prefix: 64 });
      for (const p of stage1.drainPartials()) w.addPartial({ ...JSON.parse(JSON.stringify(p)), w: start }, undefined, folded);
      const [closed] = w.closeAll();
      d.assess(closed, states);
      return states.map.get('~pop:ip')?.windows ?? 0;
    };
    expect(close(T0, false)).toBe(1);
    expect(close(T0 + MIN, true)).toBe(1);
    expect(close(T0 + 2 * MIN, false)).toBe(2);
  });
});
