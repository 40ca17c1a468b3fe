from . import portal
from . import policy
