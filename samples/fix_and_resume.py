"""Disk report: a step fails, you fix the cause, and resume the same job.

Collect gathers the numbers (slow on a real fleet, so it must not run twice);
LoadSettings reads `report.ini`, which does not exist on the first run, so the
job fails there; after you write the file, resuming the failed job reruns only
the failed block and what follows it.

Run it from the folder where report.ini and the outputs should be:

    psflow exec samples/fix_and_resume.py      # Collect runs, LoadSettings fails: Failed (exit 1)
    printf '[report]\\nrecipients = ops@example.com\\nthreshold = 80\\n' > report.ini
    psflow resume --status Failed              # Collect replayed, the rest runs (exit 0)

`collect.log` gets one line per Collect run; the report goes to `outbox.txt`.
"""

import configparser
import shutil
from pathlib import Path

SETTINGS = Path("report.ini")
COLLECT_LOG = Path("collect.log")
OUTBOX = Path("outbox.txt")
VOLUMES = ["/", "/var", "/srv"]


def disk_usage_percent(volume: str) -> int:
    """Used space of `volume` (the root volume when it does not exist here), in percent."""
    path = volume if Path(volume).exists() else "/"
    usage = shutil.disk_usage(path)
    return round(100 * usage.used / usage.total)


def append(path: Path, text: str) -> None:
    with path.open("a") as file:
        file.write(text)


def read_settings(path: Path) -> dict:
    """The [report] section as plain values (a ConfigParser itself cannot be saved)."""
    parser = configparser.ConfigParser()
    with path.open() as file:  # FileNotFoundError until someone writes the file
        parser.read_file(file)
    section = parser["report"]
    return {
        "recipients": [name.strip() for name in section["recipients"].split(",")],
        "threshold": section.getint("threshold", 90),
    }


block "Collect":
    usage = {volume: disk_usage_percent(volume) for volume in VOLUMES}
    append(COLLECT_LOG, f"collected {len(usage)} volumes\n")
    print(f"Collect: {usage}")

with block("LoadSettings"):
    settings = read_settings(SETTINGS)
    print(f"LoadSettings: report to {', '.join(settings['recipients'])} at or over {settings['threshold']}%")

block "Send":
    full = [volume for volume, percent in usage.items() if percent >= settings["threshold"]]
    lines = [f"{volume}: {percent}%" for volume, percent in usage.items()]
    append(
        OUTBOX,
        f"To: {', '.join(settings['recipients'])}\n"
        f"Subject: disk report, {len(full)} volume(s) at or over {settings['threshold']}%\n"
        + "\n".join(lines)
        + "\n\n",
    )
    print(f"Send: report with {len(usage)} volumes sent to {len(settings['recipients'])} recipient(s)")
