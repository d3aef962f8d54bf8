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
  const day = twoDigits(s, from);
  const month = monthIndex(s, from + 3);
  const year = twoDigits(s, from + 7) * 100 + twoDigits(s, from + 9);
  const hour = twoDigits(s, from + 12);
  const minute = twoDigits(s, from + 15);
  const second = twoDigits(s, from + 18);
  const sign = s.charCodeAt(from + 21);
  const zoneHours = twoDigits(s, from + 22);
  const zoneMinutes = twoDigits(s, from + 24);
  if (Number.isNaN(day + month + year + hour + minute + second + zoneHours + zoneMinutes)) return NaN;
  if (
    day < 1 || day > daysInMonth(year, month) || hour > 23 || minute > 59 || second > 60 ||
    zoneHours > 14 || zoneMinutes > 59 || (sign !== 43 /* + */ && sign !== 45 /* - */)
  ) {
    return NaN;
  }
  const offsetMs = (zoneHours * 60 + zoneMinutes) * 60_000;
  const local = utcMs(year, month, day, hour, minute, second);
  return sign === 43 ? local - offsetMs : local + offsetMs;
}

/** The value of the two ASCII digits at `s[at]`, or NaN. */
function twoDigits(s: string, at: number): number {
  const a = s.charCodeAt(at) - 48;
  const b = s.charCodeAt(at + 1) - 48;
  return a >= 0 && a <= 9 && b >= 0 && b <= 9 ? a * 10 + b : NaN;
}

/**
 * Date.UTC(year, month, day, hour, minute, second) for a validated date, in integer arithmetic (days from the
 * civil calendar, proleptic Gregorian, as Date.UTC counts): the builtin call cost more than the rest of the parse.
 * Years 0-99 mean 1900-1999, as they do for Date.UTC.
 */
function utcMs(year: number, month: number, day: number, hour: number, minute: number, second: number): number {
  const y = (year <= 99 ? year + 1900 : year) - (month < 2 ? 1 : 0);
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const m = month + 1; // 1-12
  const dayOfYear = Math.floor((153 * (m > 2 ? m - 3 : m + 9) + 2) / 5) + day - 1; // counted from 1 March
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  const days = era * 146097 + dayOfEra - 719468; // 719468: days from 0000-03-01 to 1970-01-01
  return ((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000;
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
