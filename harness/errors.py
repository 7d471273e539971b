"""The one family of errors a user can cause. The CLI turns each into one line and exit code 1.

Every exception class of the harness lives here (``tests/test_architecture.py`` checks it). A caller's
mistake (a wrong argument to a library function) is a ``TypeError`` or ``ValueError``, not one of these.
"""


class BenchError(Exception):
    """Base of every error bench reports to a user without a traceback."""


class ConfigError(BenchError):
    """A bad configuration key, value or file."""


class PluginError(BenchError):
    """A plugin could not be loaded or registered."""


class UnknownNameError(PluginError):
    """A component name that no plugin registered."""


class DuplicateNameError(PluginError):
    """Two plugins registered the same name for the same kind."""


class WorkspaceError(BenchError):
    """A path or name that would escape the workspace, or an unusable workspace."""


class DatasetError(BenchError):
    """A dataset that is missing, unreadable or cannot be downloaded."""


class CompetitionError(BenchError):
    """A competition that is unknown, inconsistent, or whose manifest changed."""


class SubmissionError(BenchError):
    """A submission file with problems.

    ``problems`` holds the first problems found (with line numbers); ``problem_count`` counts all of them.
    """

    def __init__(self, message: str, problems: list[str] | None = None, problem_count: int | None = None):
        super().__init__(message)
        self.problems = list(problems or [])
        self.problem_count = len(self.problems) if problem_count is None else problem_count


class LeaderboardError(BenchError):
    """A leaderboard file that cannot take a row, or that is not a leaderboard."""


class TrainingError(BenchError):
    """Training could not start or diverged in a way the user must fix."""


class RankFailed(TrainingError):
    """A rank of a multi-process run failed; the others were stopped."""


class RankStopped(TrainingError):
    """This rank was told to stop (SIGTERM: the launcher stops every rank once one has failed)."""


class RunKept(BenchError):
    """A run that trained but could not be finished: the pipeline keeps its folder (weights, config, log)."""


class TuneError(BenchError):
    """A study that cannot be run as asked (e.g. it belongs to another method)."""


class StudyStorageError(BenchError):
    """A study storage that cannot be parsed, reached or used."""


class UploadTooLarge(BenchError):
    """A request body over the server's limit (``bench serve --max-upload-mb``)."""


class QuotaError(BenchError):
    """A participant has used up today's submissions."""


class ClosedError(BenchError):
    """The competition's deadline has passed."""


class SignInError(BenchError):
    """A request that needs a participant's token came without a valid one."""


class ForbiddenError(BenchError):
    """A request from a source the server does not accept (another site's form, a wrong Origin)."""


class ServerError(BenchError):
    """A ``bench serve`` host refused a request or could not be reached."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status
