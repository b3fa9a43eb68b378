# Once — 한국어 UI 메시지. en/main.ftl 의 모든 키가 여기에도 있어야 합니다(테스트가 확인).

skip-to-content = 본문으로 건너뛰기
nav-language = 언어
nav-about = 보안 모델
footer-tagline = 비밀은 한 번만 공유하고, 그 뒤에는 사라집니다.
back-home = 비밀 만들기
yes = 예
no = 아니요
copy = 복사
copied = 복사됨

duration-seconds = { $n }초
duration-minutes = { $n }분
duration-hours = { $n }시간
duration-days = { $n }일
unit-minutes = 분
unit-hours = 시간
unit-days = 일

home-title = 비밀 공유하기
home-lead = 비밀번호, 키, 메모를 붙여 넣으세요. 한 번만 볼 수 있는 링크가 만들어지고, 열람 후에는 사라집니다.
field-secret = 비밀
field-secret-placeholder = 한 번만 보여야 할 내용을 입력하세요
field-expiry = 만료 시간
field-expiry-custom = 직접 입력…
field-expiry-custom-value = 만료 시간 직접 입력
field-expiry-unit = 단위
field-passphrase = 암호 (선택)
field-passphrase-help = 받는 사람이 입력해야 합니다. 링크와 다른 경로로 알려 주세요.
field-views = 열람 허용 횟수
field-views-help = 보통 1회: 링크는 이 횟수만큼만 열립니다.
create-button = 링크 만들기
create-working = 암호화하는 중…
create-another = 다른 비밀 공유하기
mode-zk = 영지식 모드: 브라우저가 비밀을 암호화합니다. 키는 링크 안에만 있고 서버로 전송되지 않습니다.
mode-server = 서버 측 모드: 서버가 비밀을 암호화합니다(JavaScript가 꺼져 있어 브라우저에서 암호화할 수 없습니다).
mode-server-used = 서버 측 모드로 만들어졌습니다: 서버가 이 비밀을 암호화했습니다.
mode-zk-used = 영지식 모드로 만들어졌습니다: 브라우저에서 암호화되었으며 서버는 키를 가진 적이 없습니다.
mode-zk-reveal = 영지식 모드: 브라우저가 링크 안의 키로 이 비밀을 복호화합니다.

created-title = 비밀 링크
created-once-note = 이 링크는 지금 한 번만 표시됩니다. 지금 복사해서 받는 사람에게 보내세요.
created-zk-note = 지금 링크를 복사하세요. 링크에 키가 들어 있어 Once는 다시 보여 줄 수 없습니다.
created-secret-link = 비밀 링크 (이 링크를 보내세요)
created-receipt-link = 비공개 확인 링크 (보관하세요: 열람 여부를 확인하고 비밀을 폐기할 수 있습니다)
qr-label = 비밀 링크의 QR 코드

preview-title = 누군가 비밀을 보냈습니다
preview-lead = 지금 열어 볼까요? 한 번만 볼 수 있으며, 열람 후에는 사라집니다.
preview-views-left = 이 링크는 { $n }번 열 수 있습니다.
preview-expires = 만료 시각:
reveal-button = 비밀 보기
reveal-working = 복호화하는 중…
zk-needs-js = 이 비밀은 보낸 사람의 브라우저에서 암호화되었습니다. 열려면 JavaScript를 켜 주세요.
zk-error-fragment = 링크가 완전하지 않습니다. “#” 뒷부분에 키가 들어 있으니 링크 전체를 복사하세요.
zk-error-insecure = 브라우저에서 비밀을 복호화하려면 이 페이지를 https로 열어야 합니다.
zk-error-failed = 열지 못했습니다. 암호를 확인하고 다시 시도하세요.

revealed-title = 받은 비밀
revealed-label = 비밀
revealed-gone = 이 비밀은 이제 삭제되었습니다. 페이지를 떠나기 전에 복사해 두세요.
revealed-views-left = 이 링크는 앞으로 { $n }번 더 열 수 있습니다.

receipt-title = 확인 페이지
receipt-state = 상태
receipt-views = 열람 횟수
receipt-views-left = { $n }회 남음
receipt-created = 만든 시각
receipt-expires = 만료 시각
receipt-received = 열람 시각
receipt-passphrase = 암호
state-new = 아직 열람되지 않음
state-viewed = 아직 열람되지 않음
state-received = 열람됨
state-burned = 폐기됨
state-expired = 만료됨
burn-reason-sender = 보낸 사람이 폐기
burn-reason-passphrase-failures = 잘못된 암호 입력이 너무 많아 폐기
burn-button = 지금 폐기
burn-help = 비밀을 삭제해 링크로 아무것도 볼 수 없게 합니다.

gone-title = 비밀을 찾을 수 없습니다
gone-body = 이미 열람되었거나, 폐기되었거나, 만료되었을 수 있습니다. 또는 링크가 잘못되었습니다. 보낸 사람에게 새 링크를 요청하세요.
notfound-title = 페이지를 찾을 수 없습니다
notfound-body = 이 주소에는 아무것도 없습니다.

error-title = 문제가 발생했습니다
error-empty = 공유할 비밀을 먼저 입력하세요.
error-form = 양식을 읽을 수 없습니다. 입력값을 확인하고 다시 시도하세요.
error-too-large = 비밀이 너무 큽니다.
error-ttl-number = 만료 시간은 정수여야 합니다.
error-ttl-range = 만료 시간은 { $min }에서 { $max } 사이여야 합니다.
error-views = 열람 허용 횟수는 1에서 { $max } 사이여야 합니다.
error-csrf = 양식이 만료되었습니다. 다시 보내 주세요.
error-passphrase = 열지 못했습니다. 암호를 확인하고 다시 시도하세요.
error-passphrase-missing = 이 비밀은 암호가 필요합니다.
error-unavailable = Once를 잠시 사용할 수 없습니다. 잠시 후 다시 시도하세요.
error-internal = 서버에 문제가 발생했습니다. 다시 시도하세요.

about-title = 보안 모델
about-lead = Once는 링크가 한 번 열릴 때까지만 비밀을 보관하고, 그 뒤에는 폐기합니다.
about-modes-title = 두 가지 암호화 방식
about-mode-zk = 영지식 모드(JavaScript 사용): 브라우저가 AES-256-GCM으로 암호화합니다. 키는 링크의 “#” 뒷부분에만 있고 브라우저는 이 부분을 서버로 보내지 않으므로, 서버는 읽을 수 없는 암호문만 저장합니다.
about-mode-server = 서버 측 모드(JavaScript 미사용, API v1): 서버가 마스터 키와 링크에서 유도한 키로 AES-256-GCM 암호화합니다. 데이터베이스만으로는, 또는 데이터베이스와 마스터 키가 있어도 링크 없이는 아무것도 열 수 없습니다.
about-guarantees-title = Once가 보장하는 것
about-once = 한 번은 정확히 한 번입니다. 동시에 요청해도 두 곳에서 비밀을 받을 수 없습니다.
about-preview = 링크를 열면 미리 보기만 표시됩니다. “비밀 보기”를 누르기 전에는 아무것도 소비되지 않으므로 링크 검사기나 메신저 미리 보기가 비밀을 없애지 않습니다.
about-passphrase = 암호는 키의 일부입니다. 잘못된 암호는 비밀을 소비하지 않으며, 다섯 번 틀리면 비밀이 폐기됩니다.
about-storage = 링크의 해시만 저장하며, 링크·암호·평문은 저장하지 않습니다.
about-expiry = 열람되지 않은 비밀은 만료되면 삭제됩니다. 보낸 사람은 확인 페이지에서 열람 여부와 시각을 확인하고 비밀을 폐기할 수 있습니다.
about-logs = 비밀, 링크, 암호는 로그나 지표에 절대 남지 않습니다.
about-limits-title = Once가 할 수 없는 것
about-limit-recipient = 받는 사람이 비밀을 복사하는 것은 막을 수 없습니다. 중요하다면 공유한 뒤 비밀번호를 바꾸세요.
about-limit-server = 영지식 모드에서는 서버가 보내는 페이지를 신뢰해야 합니다. 신뢰하지 않고 암호화하려면 명령줄 클라이언트를 사용하세요.
