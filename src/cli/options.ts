import { type CordonConfig, defaultConfig, loadConfigFile, parseConfig } from '../config.ts';

export interface CommonRunOptions {
  config?: string;
  allow: string[];
  allowPrincipal: string[];
  dryRun?: boolean;
}

/** The config file (or defaults) with the command line's allowlist and dry run on top, validated as a whole. */
export function buildConfig(o: CommonRunOptions): CordonConfig {
  const base = o.config ? loadConfigFile(o.config) : defaultConfig();
  return parseConfig({
    ...base,
    allowlist: {
      cidrs: [...base.allowlist.cidrs, ...o.allow],
      principals: [...base.allowlist.principals, ...o.allowPrincipal],
    },
    dryRun: o.dryRun || base.dryRun,
  }, o.config ? `${o.config} with command-line options` : 'command-line options');
}
