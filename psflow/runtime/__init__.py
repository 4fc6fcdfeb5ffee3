"""Running a compiled script as one attempt of a job: the recorder blocks report to (attempt), what
a script waits for (waits), the threads of a map's calls (lanes), output capture, the process
environment, how an attempt ended, and the lease kept while it runs.

Talks to the database only through the Store it is given.
"""

from psflow.runtime.endings import AttemptResult
from psflow.runtime.lease import Heartbeat
from psflow.runtime.run import run_attempt

__all__ = ["AttemptResult", "Heartbeat", "run_attempt"]
