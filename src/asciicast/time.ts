/** Formats integer microseconds as seconds with up to six decimals, trailing zeros trimmed. */
export function formatTime(micros: number): string {
  const us = Math.max(0, Math.trunc(micros));
  const whole = Math.floor(us / 1_000_000);
  const frac = us - whole * 1_000_000;
  if (frac === 0) return `${whole}.0`;
  let digits = String(frac).padStart(6, '0');
  let end = digits.length;
  while (digits.charCodeAt(end - 1) === 48) end--;
  digits = digits.slice(0, end);
  return `${whole}.${digits}`;
}

/** Converts seconds as read from a file to integer microseconds. */
export function secondsToMicros(seconds: number): number {
  return Math.round(seconds * 1_000_000);
}
