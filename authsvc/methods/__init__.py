"""The identification and authentication methods of Resolution No. 63 item 7 and their second factors.

EDS (`eds`, R-7.1), CDAO biometrics (`cdao`, R-7.2), liveness with face match (`liveness`, R-7.3b), one-time
codes by SMS (`otp`), authenticator apps and hardware tokens (`tokens`), cabinet passwords (`passwords`,
`password_login`), the mobile-operator number check (`telco`, R-108.1), the credit bureau (`bureau`, R-NB.6/7),
payout account ownership (`payout`, R-NB.2), abuse limits (`abuse`) and the SMS outbox worker (`sms_queue`).
`Factors` holds the outside parties' clients the methods share.
"""

from authsvc.methods.eds import EdsMethod
from authsvc.methods.factors import Factors, open_factors
from authsvc.methods.liveness import LivenessMethod

__all__ = [
    "EdsMethod",
    "Factors",
    "LivenessMethod",
    "open_factors",
]
