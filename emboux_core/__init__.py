from . import sql_session
from . import models
