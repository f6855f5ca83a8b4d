"""Where the CLI, tests, benchmarks and the demo import the controller's installation service from.

The service lives in ``licensor.controller.license.service``; this module only names it at its long-standing path.
"""

from ..clock import system_clock
from .license.activation import Activation
from .license.service import ControllerService, status_document

__all__ = ["Activation", "ControllerService", "status_document", "system_clock"]
