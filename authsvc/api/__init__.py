"""The HTTP layer: one module per resource (clients, identifications and their steps, EDS, contracts, second
factors, outside-party checks, NCANode compatibility, system endpoints), the middlewares (request context and
access log, errors → problem+json, API-key authentication, rate limit) and the OpenAPI document.

Handlers parse the request, call one method or service object held under its `web.AppKey` (`state`), and
render the answer. Each module's ``register(ops)`` declares its operations in `routing`: route, request model,
responses and the error codes they can answer.
"""

from authsvc.api.problem import Problem, from_error, problem_response
from authsvc.api.routing import Operation, Operations, Param

__all__ = [
    "Operation",
    "Operations",
    "Param",
    "Problem",
    "from_error",
    "problem_response",
]
