// Dates as people read them: the list's groups (Today, Yesterday, ...), and times.

const DAY_MS = 86_400_000;

function startOfDay(date) {
  return new Date(date.getFullYear(), date.getMonth(), date.getDate()).getTime();
}

/** The group a conversation created at `iso` falls in, seen from `now`. */
export function groupOf(iso, now = new Date()) {
  const at = new Date(iso);
  const days = Math.round((startOfDay(now) - startOfDay(at)) / DAY_MS);
  if (days <= 0) return "Today";
  if (days === 1) return "Yesterday";
  if (days < 7) return "Previous 7 days";
  if (days < 30) return "Previous 30 days";
  return at.toLocaleDateString(undefined, { month: "long", year: "numeric" });
}

/** A message's time: the hour today, the day and hour before. */
export function timeOf(iso, now = new Date()) {
  const at = new Date(iso);
  const time = at.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
  if (startOfDay(at) === startOfDay(now)) return time;
  const sameYear = at.getFullYear() === now.getFullYear();
  const day = at.toLocaleDateString(undefined, sameYear
    ? { day: "numeric", month: "short" } : { day: "numeric", month: "short", year: "numeric" });
  return `${day}, ${time}`;
}

export function fullTime(iso) {
  return new Date(iso).toLocaleString();
}
