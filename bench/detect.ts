import { defaultConfig } from '../src/config.ts';
import { decodeLine } from '../src/decode/index.ts';
import { Detector, type StateView } from '../src/detect/detector.ts';
import type { AccessEvent } from '../src/events.ts';
import { type ClosedWindow, Windower } from '../src/features/windower.ts';
import type { KeyState } from '../src/ports.ts';
import { windowerOptions } from './ingest.ts';
import { syntheticEvents } from './synthetic.ts';
import { bestOf, perSecond } from './timing.ts';

/**
 * Stage 2's scoring on one core: Detector.assess over closed windows, with the per-key state in a Map as the local
 * pipeline keeps it. Measured warm (every key already has a state), which is the steady state of a long run.
 */

export interface DetectFigure {
  name: string;
  windows: number;
  keys: number;
  cpuMs: number;
  wallMs: number;
  /** Per CPU-second (see timing.ts). */
  keysPerSecond: number;
  windowsPerSecond: number;
}

function mapView(states: Map<string, KeyState>): StateView {
  return { get: (k) => states.get(k), set: (k, s) => { states.set(k, s); } };
}

/** The simulated traffic's windows (a few thousand keys each). */
export function mixedWindows(apigwLines: readonly string[]): ClosedWindow[] {
  const w = new Windower(windowerOptions());
  for (const line of apigwLines) {
    const e = decodeLine(line, 'apigw-json');
    if (typeof e !== 'string') w.add(e);
  }
  return w.closeAll();
}

/** One window holding `clients` distinct clients (plus their prefixes and principals). */
export function bigWindow(clients: number): ClosedWindow {
  const w = new Windower(windowerOptions());
  syntheticEvents(0, clients, Date.UTC(2026, 10, 2), (e: AccessEvent) => w.add(e));
  return w.closeAll()[0];
}

export function detectFigure(name: string, windows: ClosedWindow[], runs: number): DetectFigure {
  const detector = new Detector(defaultConfig());
  const states = new Map<string, KeyState>();
  const view = mapView(states);
  const assessAll = () => {
    let keys = 0;
    for (const w of windows) keys += detector.assess(w, view).keys;
    return keys;
  };
  assessAll(); // cold pass: creates every key's state, and warms the JIT
  const t = bestOf(runs, assessAll);
  return { name, windows: windows.length, keys: t.result, cpuMs: Math.round(t.cpuMs), wallMs: Math.round(t.ms),
    keysPerSecond: perSecond(t.result, t.cpuMs), windowsPerSecond: Math.round((windows.length * 1000 * 10) / t.cpuMs) / 10 };
}
