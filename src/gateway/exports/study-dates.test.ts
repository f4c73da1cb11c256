import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { exportJobSchema } from './export-job-schema.js';
import { dicomDateRange, localDate, msUntilHoursOpen, parseDateArgument, studyDates } from './study-dates.js';

// 2026-12-08 01:30 UTC: still the 7th in New York, already the 8th in Berlin
const NOW = Date.UTC(2026, 11, 8, 1, 30);

describe('export jobs: study dates and hours in the job\'s time zone', () => {
  it('resolves today, yesterday and the last N days on the local calendar', () => {
    assert.equal(localDate(NOW, 'Europe/Berlin'), '20261208');
    assert.equal(localDate(NOW, 'America/New_York'), '20261207');
    assert.deepEqual(studyDates('yesterday', NOW, 'Europe/Berlin'), { from: '20261207', to: '20261207' });
    assert.deepEqual(studyDates('yesterday', NOW, 'America/New_York'), { from: '20261206', to: '20261206' });
    assert.deepEqual(studyDates('today', NOW, 'UTC'), { from: '20261208', to: '20261208' });
    assert.deepEqual(studyDates({ lastDays: 7 }, NOW, 'UTC'), { from: '20261201', to: '20261207' });
    // across a month and a year
    assert.deepEqual(studyDates({ lastDays: 3 }, Date.UTC(2027, 0, 2, 12), 'UTC'), { from: '20261230', to: '20270101' });
  });

  it('writes the QIDO-RS date range and reads command-line dates strictly', () => {
    assert.equal(dicomDateRange({ from: '20261201', to: '20261207' }), '20261201-20261207');
    assert.equal(dicomDateRange({ from: '20261207', to: '20261207' }), '20261207');
    assert.equal(parseDateArgument('2026-12-07'), '20261207');
    assert.equal(parseDateArgument('20261207'), '20261207');
    for (const bad of ['2026-02-30', '07.12.2026', 'yesterday', '2026-13-01', '']) assert.throws(() => parseDateArgument(bad), RangeError, bad);
  });

  it('pauses outside the allowed hours, also when they span midnight, and says how long', () => {
    const at = (h: number, m = 0): number => Date.UTC(2026, 11, 8, h, m);
    const night = { from: '20:00', to: '06:00' };
    assert.equal(msUntilHoursOpen(at(23), night, 'UTC'), 0);
    assert.equal(msUntilHoursOpen(at(5, 59), night, 'UTC'), 0);
    assert.equal(msUntilHoursOpen(at(6), night, 'UTC'), 14 * 3_600_000);
    assert.equal(msUntilHoursOpen(at(19, 30), night, 'UTC'), 30 * 60_000);
    assert.equal(msUntilHoursOpen(at(12), { from: '01:00', to: '05:00' }, 'UTC'), 13 * 3_600_000);
    assert.equal(msUntilHoursOpen(at(12), undefined, 'UTC'), 0);
    // 21:00 UTC is 22:00 in Berlin: inside 22:00-06:00 there, not in UTC
    assert.equal(msUntilHoursOpen(at(21), { from: '22:00', to: '06:00' }, 'Europe/Berlin'), 0);
    assert.equal(msUntilHoursOpen(at(21), { from: '22:00', to: '06:00' }, 'UTC'), 3_600_000);
  });

  it('validates a job when the configuration loads, with a reason per bad value', () => {
    const ok = exportJobSchema.parse({ schedule: { cron: '0 2 * * *' }, timeZone: 'Europe/Berlin', query: { studyDate: { lastDays: 7 }, modalitiesInStudy: ['CR', 'DX'] } });
    assert.equal(ok.limits.concurrentRetrieves, 2);
    assert.equal(ok.query.pageSize, 100);
    const problems = (input: unknown): string[] => {
      const r = exportJobSchema.safeParse(input);
      return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    };
    assert.match(problems({ schedule: { cron: 'every night' } }).join(), /schedule\.cron: not a cron expression/);
    assert.match(problems({ timeZone: 'Mars/Olympus' }).join(), /timeZone: not an IANA time zone/);
    assert.match(problems({ limits: { window: { from: '25:00', to: '06:00' } } }).join(), /limits\.window\.from: expected a time of day/);
    assert.match(problems({ query: { attributes: { 'Patient Name': 'X' } } }).join(), /Patient Name.*not a DICOM keyword/);
    assert.match(problems({ query: { studyDate: 'last week' } }).join(), /query\.studyDate/);
    assert.match(problems({ sourceAet: 'PACS' }).join(), /sourceAet|Unrecognized key/);
  });
});
