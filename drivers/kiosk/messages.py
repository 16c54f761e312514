"""What the kiosk agent tells the operator, in English, Russian and Kazakh, and its exit codes.

Each failure has a stable code, a distinct exit status (listed by ``authsvc-kiosk --help``) and a
sentence that says what to do next. ``{detail}`` carries the device's or the service's own words.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

Lang = Literal["en", "ru", "kk"]
LANGS: Final[tuple[Lang, ...]] = ("en", "ru", "kk")


@dataclass(frozen=True)
class Outcome:
    code: str
    exit_status: int
    text: dict[Lang, str]

    @property
    def summary(self) -> str:
        return _SUMMARY[self.code]


_SUMMARY: Final[dict[str, str]] = {
    "passed": "identified",
    "contract_signed": "contract signed",
    "verdict_failed": "the service refused the signature",
    "module_missing": "PKCS#11 module missing or not a PKCS#11 library",
    "no_token": "no token or card inserted",
    "token_removed": "token removed during the operation",
    "pin_incorrect": "wrong PIN (tries left shown)",
    "pin_locked": "PIN locked",
    "certificate_expired": "certificate expired or not yet valid",
    "other_person": "certificate of another person",
    "service_unavailable": "service down or unreachable",
    "challenge_expired": "identification or challenge expired",
    "device_error": "the token cannot make this signature",
    "rejected": "request refused (API key, ids)",
    "no_certificate": "no certificate with a key on the token",
    "keystore_unreadable": "key file unreadable or wrong password",
    "pin_cancelled": "PIN entry cancelled",
    "document_mismatch": "document differs from the registered contract",
    "no_reader": "no smart-card reader (or not the one named)",
    "pcscd_down": "the smart-card service (pcscd) is not running",
}


_OUTCOMES: Final[list[Outcome]] = [
    Outcome("passed", 0, {
        "en": "Signature accepted: the client is identified.",
        "ru": "Подпись принята: клиент идентифицирован.",
        "kk": "Қолтаңба қабылданды: клиент сәйкестендірілді.",
    }),
    Outcome("contract_signed", 0, {
        "en": "The contract is signed.",
        "ru": "Договор подписан.",
        "kk": "Шартқа қол қойылды.",
    }),
    Outcome("verdict_failed", 1, {
        "en": "The service did not accept the signature ({detail}). Ask the client to use their own valid EDS.",
        "ru": "Сервис не принял подпись ({detail}). Попросите клиента использовать свою действующую ЭЦП.",
        "kk": "Сервис қолтаңбаны қабылдамады ({detail}). Клиенттен өзінің жарамды ЭЦҚ-сын пайдалануын сұраңыз.",
    }),
    Outcome("module_missing", 10, {
        "en": "The token driver (PKCS#11 module) was not found or is not a PKCS#11 library: {detail} Check the kiosk set-up.",
        "ru": "Драйвер токена (модуль PKCS#11) не найден или не является библиотекой PKCS#11: {detail} Проверьте настройку киоска.",
        "kk": "Токен драйвері (PKCS#11 модулі) табылмады немесе PKCS#11 кітапханасы емес: {detail} Киоск баптауын тексеріңіз.",
    }),
    Outcome("no_token", 11, {
        "en": "No token or card was found. Ask the client to insert their token or ID card and try again.",
        "ru": "Токен или карта не обнаружены. Попросите клиента вставить токен или удостоверение личности и повторите.",
        "kk": "Токен немесе карта табылмады. Клиенттен токенді немесе жеке куәлігін салуды сұрап, қайталаңыз.",
    }),
    Outcome("token_removed", 12, {
        "en": "The token was removed during the signature. Ask the client to insert it again and keep it in until the end.",
        "ru": "Токен извлекли во время подписи. Попросите клиента вставить его снова и не вынимать до конца операции.",
        "kk": "Қол қою кезінде токен алынып қалды. Клиенттен оны қайта салып, операция аяқталғанша шығармауын сұраңыз.",
    }),
    Outcome("pin_incorrect", 13, {
        "en": "Wrong PIN. {detail} Ask the client to enter it again carefully.",
        "ru": "Неверный PIN-код. {detail} Попросите клиента внимательно ввести его ещё раз.",
        "kk": "PIN-код қате. {detail} Клиенттен оны мұқият қайта енгізуін сұраңыз.",
    }),
    Outcome("pin_locked", 14, {
        "en": "The PIN is locked. The client must unblock the token with its PUK at the issuer (NCA / public service centre).",
        "ru": "PIN-код заблокирован. Клиенту нужно разблокировать токен PUK-кодом у выдавшей стороны (НУЦ / ЦОН).",
        "kk": "PIN-код бұғатталған. Клиент токенді PUK-кодпен беруші орталықта (ҰКО / ХҚКО) бұғаттан шығаруы керек.",
    }),
    Outcome("certificate_expired", 15, {
        "en": "The client's certificate is not valid now ({detail}). The client needs a new EDS from NCA.",
        "ru": "Сертификат клиента сейчас недействителен ({detail}). Клиенту нужно получить новую ЭЦП в НУЦ.",
        "kk": "Клиенттің сертификаты қазір жарамсыз ({detail}). Клиентке ҰКО-дан жаңа ЭЦҚ алу керек.",
    }),
    Outcome("other_person", 16, {
        "en": "The certificate belongs to another person ({detail}). Only the client's own EDS can be used.",
        "ru": "Сертификат принадлежит другому человеку ({detail}). Можно использовать только собственную ЭЦП клиента.",
        "kk": "Сертификат басқа адамға тиесілі ({detail}). Тек клиенттің өз ЭЦҚ-сын пайдалануға болады.",
    }),
    Outcome("service_unavailable", 17, {
        "en": "The identification service does not answer ({detail}). Check the network and try again in a minute.",
        "ru": "Сервис идентификации не отвечает ({detail}). Проверьте сеть и повторите через минуту.",
        "kk": "Сәйкестендіру сервисі жауап бермейді ({detail}). Желіні тексеріп, бір минуттан кейін қайталаңыз.",
    }),
    Outcome("challenge_expired", 18, {
        "en": "The identification has expired or is closed ({detail}). Start a new identification.",
        "ru": "Срок идентификации истёк или она закрыта ({detail}). Начните новую идентификацию.",
        "kk": "Сәйкестендіру мерзімі өтті немесе ол жабылды ({detail}). Жаңа сәйкестендіруді бастаңыз.",
    }),
    Outcome("device_error", 19, {
        "en": "The token cannot make this signature: {detail} Try another token or call support.",
        "ru": "Токен не может выполнить эту подпись: {detail} Попробуйте другой токен или обратитесь в поддержку.",
        "kk": "Токен бұл қолтаңбаны жасай алмайды: {detail} Басқа токенді қолданып көріңіз немесе қолдауға хабарласыңыз.",
    }),
    Outcome("rejected", 20, {
        "en": "The service refused the request ({detail}). Check the kiosk's API key and the identification or contract id.",
        "ru": "Сервис отклонил запрос ({detail}). Проверьте API-ключ киоска и номер идентификации или договора.",
        "kk": "Сервис сұранысты қабылдамады ({detail}). Киосктің API кілтін және сәйкестендіру не шарт нөмірін тексеріңіз.",
    }),
    Outcome("no_certificate", 21, {
        "en": "The token holds no signing certificate with its key ({detail}). Ask the client for the token with their EDS.",
        "ru": "На токене нет сертификата подписи с ключом ({detail}). Попросите у клиента токен с его ЭЦП.",
        "kk": "Токенде кілті бар қол қою сертификаты жоқ ({detail}). Клиенттен ЭЦҚ-сы бар токенді сұраңыз.",
    }),
    Outcome("keystore_unreadable", 22, {
        "en": "The key file cannot be opened: wrong password or not an NCA key file ({detail}). Ask the client to check both.",
        "ru": "Файл ключа не открывается: неверный пароль или это не файл ключа НУЦ ({detail}). Попросите клиента проверить.",
        "kk": "Кілт файлы ашылмайды: құпиясөз қате немесе бұл ҰКО кілт файлы емес ({detail}). Клиенттен тексеруін сұраңыз.",
    }),
    Outcome("pin_cancelled", 23, {
        "en": "PIN entry was cancelled. Ask the client to enter the PIN again.",
        "ru": "Ввод PIN-кода отменён. Попросите клиента ввести PIN-код ещё раз.",
        "kk": "PIN-кодты енгізу тоқтатылды. Клиенттен PIN-кодты қайта енгізуін сұраңыз.",
    }),
    Outcome("document_mismatch", 24, {
        "en": "The document at the kiosk is not the contract the service registered ({detail}). Reload the contract.",
        "ru": "Документ на киоске не совпадает с договором, зарегистрированным в сервисе ({detail}). Загрузите договор заново.",
        "kk": "Киосктегі құжат сервисте тіркелген шартпен сәйкес келмейді ({detail}). Шартты қайта жүктеңіз.",
    }),
    Outcome("no_reader", 25, {
        "en": "No smart-card reader was found ({detail}). Check that the reader is plugged in, or the reader name in the kiosk set-up.",
        "ru": "Считыватель смарт-карт не найден ({detail}). Проверьте, подключён ли считыватель, или имя считывателя в настройке киоска.",
        "kk": "Смарт-карта оқу құрылғысы табылмады ({detail}). Құрылғының қосылғанын немесе киоск баптауындағы оның атауын тексеріңіз.",
    }),
    Outcome("pcscd_down", 26, {
        "en": "The smart-card service of the kiosk is not running ({detail}). Start pcscd (systemctl start pcscd) or call support.",
        "ru": "Служба смарт-карт киоска не запущена ({detail}). Запустите pcscd (systemctl start pcscd) или обратитесь в поддержку.",
        "kk": "Киосктің смарт-карта қызметі іске қосылмаған ({detail}). pcscd қызметін іске қосыңыз (systemctl start pcscd) немесе қолдауға хабарласыңыз.",
    }),
]  # fmt: skip

OUTCOMES: Final[dict[str, Outcome]] = {o.code: o for o in _OUTCOMES}

TRIES: Final[dict[str, dict[Lang, str]]] = {
    "low": {"en": "Few tries are left before it locks.", "ru": "Осталось мало попыток до блокировки.",
            "kk": "Бұғатталғанға дейін аз мүмкіндік қалды."},
    "final": {"en": "ONE try is left before it locks.", "ru": "Осталась ОДНА попытка до блокировки.",
              "kk": "Бұғатталғанға дейін БІР мүмкіндік қалды."},
}  # fmt: skip

COUNTED_TRIES: Final[dict[Lang, str]] = {
    "en": "{n} tries are left before it locks.",
    "ru": "До блокировки осталось попыток: {n}.",
    "kk": "Бұғатталғанға дейін {n} мүмкіндік қалды.",
}


def tries_text(tries: str | None, tries_left: int | None, lang: Lang) -> str:
    """What the operator is told about the tries left: a count from a card, "low"/"final" from a token."""
    if tries_left == 1 or tries == "final":
        return TRIES["final"][lang]
    if tries_left is not None:
        return COUNTED_TRIES[lang].format(n=tries_left)
    return TRIES[tries][lang] if tries else ""


PROMPTS: Final[dict[str, dict[Lang, str]]] = {
    "holder": {"en": "Token of: {detail}", "ru": "Токен владельца: {detail}", "kk": "Токен иесі: {detail}"},
    "pin": {"en": "PIN: ", "ru": "PIN-код: ", "kk": "PIN-код: "},
    "password": {"en": "Key file password: ", "ru": "Пароль файла ключа: ", "kk": "Кілт файлының құпиясөзі: "},
    "pinpad": {"en": "Enter the PIN on the reader's PIN pad.", "ru": "Введите PIN-код на клавиатуре считывателя.",
               "kk": "PIN-кодты оқу құрылғысының пернетақтасында енгізіңіз."},
    "waiting": {"en": "Insert the token or card…", "ru": "Вставьте токен или карту…", "kk": "Токенді немесе картаны салыңыз…"},
    "reopened": {"en": "The token was reconnected; the signature went through.",
                 "ru": "Токен переподключён; подпись выполнена.", "kk": "Токен қайта қосылды; қолтаңба орындалды."},
}  # fmt: skip


def message(code: str, lang: Lang, detail: str = "") -> str:
    return OUTCOMES[code].text[lang].format(detail=detail).replace(" ()", "").replace("  ", " ").strip()


def exit_codes_help() -> str:
    """The exit-status table for ``--help``."""
    return "exit status:\n" + "\n".join(f"  {o.exit_status:>3}  {o.code:<20} {o.summary}" for o in _OUTCOMES)
