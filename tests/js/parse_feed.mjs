// Independent check of a Roster feed with Mozilla's ical.js (the parser Thunderbird uses).
// Usage: node parse_feed.mjs FILE.ics  ->  JSON on stdout:
//   {"calendar": {...}, "events": [{uid, start, end, allDay, status, summary, sequence, alarms}]}
// Timed events are printed as UTC instants, resolved through the feed's own VTIMEZONEs.
import { readFileSync } from "node:fs";
import ICAL from "ical.js";

const text = readFileSync(process.argv[2], "utf8");
const root = new ICAL.Component(ICAL.parse(text));

for (const vtz of root.getAllSubcomponents("vtimezone")) {
  ICAL.TimezoneService.register(vtz);
}

function instant(time) {
  if (time.isDate) {
    return time.toString(); // YYYY-MM-DD
  }
  if (time.zone === ICAL.Timezone.localTimezone) {
    throw new Error(`floating time ${time.toString()}`);
  }
  return time.toJSDate().toISOString().replace(".000Z", "Z");
}

const events = root.getAllSubcomponents("vevent").map((vevent) => {
  const event = new ICAL.Event(vevent);
  if (event.isRecurring()) {
    throw new Error(`unexpected RRULE in ${event.uid}`);
  }
  return {
    uid: event.uid,
    start: instant(event.startDate),
    end: instant(event.endDate),
    allDay: event.startDate.isDate,
    status: vevent.getFirstPropertyValue("status"),
    summary: event.summary,
    location: event.location,
    description: event.description,
    sequence: event.sequence,
    alarms: vevent.getAllSubcomponents("valarm").length,
  };
});
events.sort((a, b) => (a.uid < b.uid ? -1 : a.uid > b.uid ? 1 : 0));

const calendar = {
  version: root.getFirstPropertyValue("version"),
  prodid: root.getFirstPropertyValue("prodid"),
  name: root.getFirstPropertyValue("name"),
  timezones: root.getAllSubcomponents("vtimezone").map((tz) => tz.getFirstPropertyValue("tzid")),
};
process.stdout.write(JSON.stringify({ calendar, events }));
