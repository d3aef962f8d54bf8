import type { Decision } from '../decision.ts';
import type { Unreadable } from '../events.ts';

/**
 * Everything `report.html` shows, filled by the pipeline at the end of a run (DESIGN §7). Plain data, so a
 * report can also be rebuilt from a saved JSON copy.
 */
export interface ReportData {
  title: string;
  /** ISO 8601. */
  generatedAt: string;
  /** Input file names. */
  inputs: string[];
  dryRun: boolean;
  summary: {
    linesRead: number;
    linesUnreadable: number;
    events: number;
    keysTracked: number;
    eventsPerSecond: number;
    wallSeconds: number;
    blocks: number;
    alerts: number;
    unblocks: number;
    decisionsByReason: Record<string, number>;
    /** Epoch ms of the first and last event, null when there were none. */
    logStart: number | null;
    logEnd: number | null;
  };
  /** Whole-traffic counts per window, in time order. */
  timeline: TimelinePoint[];
  decisions: Decision[];
  topKeys: TopKey[];
  unreadableSamples: Unreadable[];
  /** Files written next to the report. */
  outputs: { name: string; description: string }[];
  /** Window length in seconds, when known (otherwise inferred from the timeline). */
  windowSeconds?: number;
}

/** One window of the traffic chart: what the detector counts per closed window. */
import type { TimelinePoint } from '../detect/detector.ts';
export type { TimelinePoint };

export interface TopKey {
  key: string;
  kind: 'ip' | 'prefix' | 'principal';
  requests: number;
  errors: number;
  decided?: 'block' | 'alert';
}
