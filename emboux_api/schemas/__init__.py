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
from .provider import DnsRecordOut, VerifyOut, VerifyStatusOut
from .outbound import (
    IncrementIn,
    IncrementOut,
    OutboundDayOut,
    OutboundIn,
    OutboundOut,
    ResetOut,
)
from .suppression import SuppressionCheckOut, SuppressionOut
from .dns import DnsCheckItem, DnsCheckOut
from .webhook import WebhookOut
