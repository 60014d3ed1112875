//! Knative's ways of saying time: ISO 8601 durations (`backoffDelay`) and
//! the cron schedules of PingSources.

use std::time::Duration;

use anyhow::Context;

/// The ISO 8601 durations Knative uses: `PT0.2S`, `PT1M`, `PT1H30M`, `P1D`.
pub fn iso8601_duration(text: &str) -> anyhow::Result<Duration> {
    let bad = || anyhow::anyhow!("not an ISO 8601 duration: {text}");
    let rest = text.strip_prefix('P').ok_or_else(bad)?;
    let (days, time) = rest.split_once('T').unwrap_or((rest, ""));
    let mut seconds = 0f64;
    if !days.is_empty() {
        seconds += days.strip_suffix('D').ok_or_else(bad)?.parse::<f64>().map_err(|_| bad())? * 86_400.0;
    }
    let mut number = String::new();
    for c in time.chars() {
        let unit = match c {
            'H' => 3_600.0,
            'M' => 60.0,
            'S' => 1.0,
            c if c.is_ascii_digit() || c == '.' => {
                number.push(c);
                continue;
            }
            _ => return Err(bad()),
        };
        seconds += number.parse::<f64>().map_err(|_| bad())? * unit;
        number.clear();
    }
    if !number.is_empty() || text == "P" || text == "PT" {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// How often a cron schedule fires, for the schedules a tick needs:
/// `* * * * *` (every minute) and `*/N * * * *` (every N minutes).
pub(super) fn schedule_interval(schedule: &str) -> anyhow::Result<Duration> {
    let minute = schedule.split_whitespace().next().unwrap_or_default();
    let minutes = match minute {
        "*" => 1,
        m => m.strip_prefix("*/").and_then(|n| n.parse::<u64>().ok()).filter(|n| *n > 0).with_context(
            || format!("schedule {schedule}: only `* * * * *` and `*/N * * * *` are run locally"),
        )?,
    };
    Ok(Duration::from_secs(minutes * 60))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_iso8601_durations() {
        assert_eq!(iso8601_duration("PT0.2S").unwrap(), Duration::from_millis(200));
        assert_eq!(iso8601_duration("PT1M30S").unwrap(), Duration::from_secs(90));
        assert_eq!(iso8601_duration("P1DT1H").unwrap(), Duration::from_secs(90_000));
        assert!(iso8601_duration("0.2s").is_err());
        assert!(iso8601_duration("PT").is_err());
        assert!(iso8601_duration("PT5").is_err());
    }
}
