// Times are shown in the schedule's zone; hovering shows the viewer's own local time.

const cache = new Map();

// The year is shown only when it is not this one.
function formatter(zone, withYear) {
  const key = `${zone || ""}|${withYear}`;
  if (!cache.has(key)) {
    const options = {
      year: withYear ? "numeric" : undefined,
      month: "short",
      day: "numeric",
      hour: "2-digit",
      minute: "2-digit",
      timeZoneName: "short",
    };
    try {
      cache.set(key, new Intl.DateTimeFormat(undefined, { ...options, timeZone: zone || undefined }));
    } catch {
      // A zone this browser does not know (its tz data is older than the server's).
      cache.set(key, new Intl.DateTimeFormat(undefined, { ...options, timeZone: "UTC" }));
    }
  }
  return cache.get(key);
}

export function timeText(iso, zone) {
  const when = new Date(iso);
  return formatter(zone, when.getFullYear() !== new Date().getFullYear()).format(when);
}

export function timeEl(iso, zone) {
  if (!iso) return document.createTextNode("—");
  const el = document.createElement("time");
  el.dateTime = iso;
  el.textContent = timeText(iso, zone);
  el.title = `Your time: ${timeText(iso, undefined)}`;
  return el;
}

export function duration(ms) {
  if (ms === null || ms === undefined) return "—";
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60000)} min ${Math.round((ms % 60000) / 1000)} s`;
}
