/**
 * Parses a CLF time (`21/Nov/2026:10:00:00 +0000`, as Apache, nginx and `$context.requestTime` write it) found at
 * `s[from, to)` into epoch ms, or NaN. By hand, in place: this runs once per line on the hot path, and
 * Date.parse on a rebuilt string would cost two allocations and a slow generic parser.
 */
export function parseClfTime(s: string, from = 0, to = s.length): number {
  if (to - from !== 26) return NaN;
  if (
    s.charCodeAt(from + 2) !== 47 /* / */ ||
    s.charCodeAt(from + 6) !== 47 ||
    s.charCodeAt(from + 11) !== 58 /* : */ ||
    s.charCodeAt(from + 14) !== 58 ||
    s.charCodeAt(from + 17) !== 58 ||
    s.charCodeAt(from + 20) !== 32
  ) {
    return NaN;
  }
  const day = digits(s, from, 2);
  const month = monthIndex(s, from + 3);
  const year = digits(s, from + 7, 4);
  const hour = digits(s, from + 12, 2);
  const minute = digits(s, from + 15, 2);
  const second = digits(s, from + 18, 2);
  const sign = s.charCodeAt(from + 21);
  const zoneHours = digits(s, from + 22, 2);
  const zoneMinutes = digits(s, from + 24, 2);
  if (Number.isNaN(day + month + year + hour + minute + second + zoneHours + zoneMinutes)) return NaN;
  if (
    day < 1 || day > daysInMonth(year, month) || hour > 23 || minute > 59 || second > 60 ||
    zoneHours > 14 || zoneMinutes > 59 || (sign !== 43 /* + */ && sign !== 45 /* - */)
  ) {
    return NaN;
  }
  const offsetMs = (zoneHours * 60 + zoneMinutes) * 60_000;
  const local = Date.UTC(year, month, day, hour, minute, second);
  return sign === 43 ? local - offsetMs : local + offsetMs;
}

/** The value of `n` ASCII digits at `s[at]`, or NaN. */
function digits(s: string, at: number, n: number): number {
  let v = 0;
  for (let i = at; i < at + n; i++) {
    const d = s.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return NaN;
    v = v * 10 + d;
  }
  return v;
}

/** 0-based month of a three-letter English abbreviation at `s[at]` (any case), or NaN. */
function monthIndex(s: string, at: number): number {
  const key = ((s.charCodeAt(at) | 32) << 16) | ((s.charCodeAt(at + 1) | 32) << 8) | (s.charCodeAt(at + 2) | 32);
  switch (key) {
    case 0x6a616e: return 0; // jan
    case 0x666562: return 1; // feb
    case 0x6d6172: return 2; // mar
    case 0x617072: return 3; // apr
    case 0x6d6179: return 4; // may
    case 0x6a756e: return 5; // jun
    case 0x6a756c: return 6; // jul
    case 0x617567: return 7; // aug
    case 0x736570: return 8; // sep
    case 0x6f6374: return 9; // oct
    case 0x6e6f76: return 10; // nov
    case 0x646563: return 11; // dec
    default: return NaN;
  }
}

function daysInMonth(year: number, month: number): number {
  if (month === 1) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 3 || month === 5 || month === 8 || month === 10 ? 30 : 31;
}
