"""The skruntime Python SDK: ``Client`` (sync) and ``AsyncClient`` (async).

::

    from skruntime.client import Client

    with Client("http://127.0.0.1:8640", api_key="sk_...") as sk:
        sk.deploy("loan-v1", definition)
        sk.spawn("loan-v1", actor_id="alice", context={"amount": 1000})
        result = sk.send("alice", "SUBMIT_INFO")      # durable when it returns
        result.state_value, result.effects

Errors are raised as the subclasses of :class:`ApiError` that match the
server's problem types (``EventNotHandledError.accepted``,
``ValidationError.pointer``, ...).
"""

from ._client import AsyncClient as AsyncClient
from ._client import BaseClient as BaseClient
from ._client import Client as Client
from ._errors import ActorDoneError as ActorDoneError
from ._errors import ApiError as ApiError
from ._errors import AuthError as AuthError
from ._errors import ClientError as ClientError
from ._errors import ConflictError as ConflictError
from ._errors import EventNotHandledError as EventNotHandledError
from ._errors import InvalidDefinitionError as InvalidDefinitionError
from ._errors import NotFoundError as NotFoundError
from ._errors import PreviewStaleError as PreviewStaleError
from ._errors import ServerUnavailableError as ServerUnavailableError
from ._errors import TransportError as TransportError
from ._errors import ValidationError as ValidationError
from ._models import Actor as Actor
from ._models import ApiKey as ApiKey
from ._models import DecisionRecord as DecisionRecord
from ._models import Deployment as Deployment
from ._models import DeployResult as DeployResult
from ._models import Event as Event
from ._models import Preview as Preview
from ._models import SendResult as SendResult
from ._models import Version as Version

__all__ = [
    "Actor",
    "ActorDoneError",
    "ApiError",
    "ApiKey",
    "AsyncClient",
    "AuthError",
    "BaseClient",
    "Client",
    "ClientError",
    "ConflictError",
    "DecisionRecord",
    "DeployResult",
    "Deployment",
    "Event",
    "EventNotHandledError",
    "InvalidDefinitionError",
    "NotFoundError",
    "Preview",
    "PreviewStaleError",
    "SendResult",
    "ServerUnavailableError",
    "TransportError",
    "ValidationError",
    "Version",
]

from .._util import fixup_module_metadata as _fixup

_fixup(__name__, globals(), __all__)
del _fixup
