from .common import ErrorOut, HealthOut
from .domain import (
    DomainCreate,
    DomainOut,
    RetentionIn,
    RetentionOut,
    TransferIn,
    TransferOut,
)
from .mailbox import MailboxCreate, MailboxOut, MailboxUpdate, QuotaIn, QuotaOut
from .alias import AliasCreate, AliasOut
from .domain import OwnerIn, ParentIn
from .tenancy import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyOut,
    TenantIn,
    TenantOut,
    UsageOut,
)
