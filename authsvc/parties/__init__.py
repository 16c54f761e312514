"""Outbound HTTP clients of the outside parties: NCA RK (OCSP, CRL, CA certificates, time stamps), the CDAO,
mobile operators, SMS gateways and verification calls, the credit bureau and the bank.

Every call goes through `HttpClient` (timeouts, bounded retries with back-off, body-size limits, one error
type); each party has a simulator in `simulators/` speaking the same HTTP contract.
"""

from authsvc.parties.bank import BankClient
from authsvc.parties.bureau import BureauClient
from authsvc.parties.cdao import CdaoClient
from authsvc.parties.http import HttpClient, RetryPolicy
from authsvc.parties.nca import NcaClient
from authsvc.parties.sms import SmsClient
from authsvc.parties.telco import TelcoClient
from authsvc.parties.voice_call import VoiceCallClient

__all__ = [
    "BankClient",
    "BureauClient",
    "CdaoClient",
    "HttpClient",
    "NcaClient",
    "RetryPolicy",
    "SmsClient",
    "TelcoClient",
    "VoiceCallClient",
]
