"""The default ``Database.log``: txaio's logger interface, written to :mod:`logging`.

Upstream's ``Database.log`` is a txaio logger, and its users log through it: crossbar's
event store does ``self.log = db.log`` and then ``self.log.info("{n} records in {ms} ms",
n=n, ms=ms)``, ``self.log.warn(...)`` and ``self.log.failure()`` in an ``except`` block.
A plain :class:`logging.Logger` rejects those keyword arguments (``TypeError``) and has no
``failure``; this adapter accepts both styles without depending on txaio.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, Optional

#: txaio's "trace" level, below DEBUG
TRACE = 5


class TxaioStyleLogger:
    """A logger with txaio's methods over a :class:`logging.Logger`.

    ``critical``/``error``/``warn`` (also ``warning``)/``info``/``debug``/``trace`` take a
    PEP 3101 format string filled from keyword arguments (txaio style:
    ``log.info("opened {path}", path=p)``) or, with positional arguments, a %-style message
    as :mod:`logging` takes it (``log.info("opened %s", p)``). The message is formatted only
    when the level is enabled; a format string whose fields are missing is logged as is,
    followed by the keyword arguments (logging never raises). ``failure(fmt=None, **kw)``
    logs the exception being handled at error level, with its traceback.

    Raises:
        nothing: bad format strings and arguments are logged as given.
    """

    __slots__ = ("logger",)

    def __init__(self, logger: logging.Logger) -> None:
        #: the :class:`logging.Logger` written to
        self.logger = logger

    def _emit(self, level: int, fmt: Any, args: tuple, kwargs: dict, exc_info: Any = False) -> None:
        logger = self.logger
        if not logger.isEnabledFor(level):
            return
        if args:
            logger.log(level, fmt, *args, exc_info=exc_info)
            return
        message = str(fmt)
        if kwargs:
            try:
                message = message.format(**kwargs)
            except (KeyError, IndexError, ValueError, AttributeError, TypeError):
                message = f"{message} {kwargs!r}"
        # the message is final: no %-interpolation by logging
        logger.log(level, "%s", message, exc_info=exc_info)

    def critical(self, fmt: Any, *args: Any, **kwargs: Any) -> None:
        """Log at CRITICAL."""
        self._emit(logging.CRITICAL, fmt, args, kwargs)

    def error(self, fmt: Any, *args: Any, **kwargs: Any) -> None:
        """Log at ERROR."""
        self._emit(logging.ERROR, fmt, args, kwargs)

    def warn(self, fmt: Any, *args: Any, **kwargs: Any) -> None:
        """Log at WARNING (txaio's name)."""
        self._emit(logging.WARNING, fmt, args, kwargs)

    warning = warn

    def info(self, fmt: Any, *args: Any, **kwargs: Any) -> None:
        """Log at INFO."""
        self._emit(logging.INFO, fmt, args, kwargs)

    def debug(self, fmt: Any, *args: Any, **kwargs: Any) -> None:
        """Log at DEBUG."""
        self._emit(logging.DEBUG, fmt, args, kwargs)

    def trace(self, fmt: Any, *args: Any, **kwargs: Any) -> None:
        """Log at txaio's trace level (5, below DEBUG)."""
        self._emit(TRACE, fmt, args, kwargs)

    def failure(self, fmt: Optional[Any] = None, failure: Any = None, **kwargs: Any) -> None:
        """Log the exception being handled (or ``failure``, when given) at ERROR, with
        its traceback; ``fmt`` defaults to the exception's text."""
        if fmt is None:
            fmt = "{log_failure}"
        if failure is None:
            failure = sys.exc_info()[1]
            exc_info: Any = True
        else:
            exc_info = failure if isinstance(failure, BaseException) else False
        kwargs.setdefault("log_failure", failure)
        self._emit(logging.ERROR, fmt, (), kwargs, exc_info=exc_info)

    def __repr__(self) -> str:
        return f"<TxaioStyleLogger {self.logger.name!r}>"
