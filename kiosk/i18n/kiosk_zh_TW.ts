<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="zh_TW">
  <context>
    <name>AmendCcrn</name>
    <message>
      <source>Amend: which cargo data?</source>
      <translation>修改：哪一份貨物資料？</translation>
    </message>
    <message>
      <source>CCRN (10 digits)</source>
      <translation>CCRN（10 位數字）</translation>
    </message>
    <message>
      <source>Find the cargo data</source>
      <translation>尋找貨物資料</translation>
    </message>
  </context>
  <context>
    <name>Batch</name>
    <message>
      <source>Batch upload from a USB stick</source>
      <translation>從 USB 手指批量上載</translation>
    </message>
    <message>
      <source>Files on the USB stick:</source>
      <translation>USB 手指內的檔案：</translation>
    </message>
    <message>
      <source>Fill in the template (xlsx or CSV, one row per consignment, at most 200 rows), put it on the USB stick and choose it below. Rows with errors are listed and not sent; the other rows get their CCRNs.</source>
      <translation>填寫範本（xlsx 或 CSV，每批貨物一行，最多 200 行），存到 USB 手指，然後在下面選擇。有錯誤的行會列出而不會遞交；其他行會獲發 CCRN。</translation>
    </message>
    <message>
      <source>No .xlsx or .csv file on the USB stick.</source>
      <translation>USB 手指內沒有 .xlsx 或 .csv 檔案。</translation>
    </message>
    <message>
      <source>Save a blank template to the USB stick</source>
      <translation>把空白範本存到 USB 手指</translation>
    </message>
    <message>
      <source>Upload {file}</source>
      <translation>上載 {file}</translation>
    </message>
  </context>
  <context>
    <name>BatchResult</name>
    <message>
      <source>Batch upload: {file}</source>
      <translation>批量上載：{file}</translation>
    </message>
    <message>
      <source>Row {row}: CCRN {ccrn}</source>
      <translation>第 {row} 行：CCRN {ccrn}</translation>
    </message>
    <message>
      <source>Row {row}: may have been saved, but no CCRN came back. Sent again in this session, it gets its CCRN, not a second one.</source>
      <translation>第 {row} 行：可能已儲存，但沒有收到 CCRN。在本次使用中再傳送，會收到原來的 CCRN，不會產生第二個。</translation>
    </message>
    <message>
      <source>Row {row}: not sent (sending had stopped)</source>
      <translation>第 {row} 行：未傳送（傳送已停止）</translation>
    </message>
    <message>
      <source>Row {row}: not submitted: {reasons}</source>
      <translation>第 {row} 行：未遞交：{reasons}</translation>
    </message>
    <message>
      <source>Sending stopped at row {row}: the control point system could not be reached or did not answer, so the rows after it were not sent. Choose the same file again before you finish: rows already saved keep their CCRN and are not saved twice.</source>
      <translation>傳送在第 {row} 行停止：未能連接管制站系統或沒有回應，其後各行均未傳送。請在完成前再選擇同一檔案：已儲存的行會保留原來的 CCRN，不會重複儲存。</translation>
    </message>
    <message>
      <source>{ok} row(s) submitted, {bad} row(s) not submitted, may have been saved: {maybe}.</source>
      <translation>已遞交 {ok} 行，{bad} 行未遞交，可能已儲存：{maybe} 行。</translation>
    </message>
    <message>
      <source>{ok} row(s) submitted, {bad} row(s) not submitted.</source>
      <translation>已遞交 {ok} 行，{bad} 行未遞交。</translation>
    </message>
  </context>
  <context>
    <name>BundleCcrns</name>
    <message>
      <source>Add</source>
      <translation>加入</translation>
    </message>
    <message>
      <source>Bundle: the CCRNs on this truck</source>
      <translation>綑綁：這輛貨車的 CCRN</translation>
    </message>
    <message>
      <source>CCRNs to bundle: {count}</source>
      <translation>待綑綁的 CCRN：{count} 個</translation>
    </message>
    <message>
      <source>Next: vehicle and control point</source>
      <translation>下一步：車輛及管制站</translation>
    </message>
    <message>
      <source>Remove</source>
      <translation>移除</translation>
    </message>
    <message>
      <source>Type a 10-digit CCRN and press Add.</source>
      <translation>輸入 10 位數字的 CCRN，然後按「加入」。</translation>
    </message>
  </context>
  <context>
    <name>BundleDetails</name>
    <message>
      <source>Bundle: vehicle, control point, direction</source>
      <translation>綑綁：車輛、管制站、方向</translation>
    </message>
    <message>
      <source>Control point you will cross at:</source>
      <translation>您將會經過的管制站：</translation>
    </message>
    <message>
      <source>Next: review</source>
      <translation>下一步：核對</translation>
    </message>
    <message>
      <source>Type it again</source>
      <translation>再輸入一次</translation>
    </message>
    <message>
      <source>Vehicle registration number</source>
      <translation>車輛登記號碼</translation>
    </message>
  </context>
  <context>
    <name>BundleResult</name>
    <message>
      <source>Bundled. Keep your UBR.</source>
      <translation>綑綁完成，請保留您的 UBR。</translation>
    </message>
  </context>
  <context>
    <name>BundleReview</name>
    <message>
      <source>Bundle: please check</source>
      <translation>綑綁：請核對</translation>
    </message>
    <message>
      <source>Correct: sign and bundle</source>
      <translation>正確：簽署並綑綁</translation>
    </message>
  </context>
  <context>
    <name>CancelChoose</name>
    <message>
      <source>Cancel CCRN {ccrn}</source>
      <translation>取消 CCRN {ccrn}</translation>
    </message>
    <message>
      <source>Cancel the whole bundle</source>
      <translation>取消整個綑綁</translation>
    </message>
    <message>
      <source>Cancel: the whole bundle or one CCRN?</source>
      <translation>取消：整個綑綁還是一個 CCRN？</translation>
    </message>
    <message>
      <source>Take one CCRN out:</source>
      <translation>取出一個 CCRN：</translation>
    </message>
  </context>
  <context>
    <name>CancelResult</name>
    <message>
      <source>CCRN {ccrn} taken out of the bundle</source>
      <translation>CCRN {ccrn} 已從綑綁中取消</translation>
    </message>
    <message>
      <source>The bundle is cancelled</source>
      <translation>綑綁已取消</translation>
    </message>
  </context>
  <context>
    <name>CancelUbr</name>
    <message>
      <source>Cancel: which bundle?</source>
      <translation>取消：哪一個綑綁？</translation>
    </message>
    <message>
      <source>Find the bundle</source>
      <translation>尋找綑綁</translation>
    </message>
    <message>
      <source>UBR (10 digits)</source>
      <translation>UBR（10 位數字）</translation>
    </message>
  </context>
  <context>
    <name>CargoForm</name>
    <message>
      <source>Amend cargo data of CCRN {ccrn}</source>
      <translation>修改 CCRN {ccrn} 的貨物資料</translation>
    </message>
    <message>
      <source>Filled from the control point's copy as of {time} HKT (the centre cannot be reached): it may be out of date. Check every field before submitting.</source>
      <translation>表格資料來自管制站於香港時間 {time} 的資料副本（未能連接中央系統），可能不是最新。遞交前請逐項核對。</translation>
    </message>
    <message>
      <source>Submit</source>
      <translation>遞交</translation>
    </message>
    <message>
      <source>Submit cargo data (* = required)</source>
      <translation>遞交貨物資料（* = 必須填寫）</translation>
    </message>
    <message>
      <source>Submit the amendment</source>
      <translation>遞交修改</translation>
    </message>
  </context>
  <context>
    <name>CargoResult</name>
    <message>
      <source>Cargo data amended</source>
      <translation>貨物資料已修改</translation>
    </message>
    <message>
      <source>Cargo data submitted. Your CCRN:</source>
      <translation>貨物資料已遞交。您的 CCRN：</translation>
    </message>
    <message>
      <source>Submit more cargo data</source>
      <translation>遞交更多貨物資料</translation>
    </message>
  </context>
  <context>
    <name>ControlPoint</name>
    <message>
      <source>HZMB Hong Kong Port (Macao)</source>
      <translation>港珠澳大橋香港口岸（往來澳門）</translation>
    </message>
    <message>
      <source>HZMB Hong Kong Port (Mainland)</source>
      <translation>港珠澳大橋香港口岸（往來內地）</translation>
    </message>
    <message>
      <source>Heung Yuen Wai</source>
      <translation>香園圍</translation>
    </message>
    <message>
      <source>Lok Ma Chau</source>
      <translation>落馬洲</translation>
    </message>
    <message>
      <source>Man Kam To</source>
      <translation>文錦渡</translation>
    </message>
    <message>
      <source>Sha Tau Kok</source>
      <translation>沙頭角</translation>
    </message>
    <message>
      <source>Shenzhen Bay</source>
      <translation>深圳灣</translation>
    </message>
  </context>
  <context>
    <name>Direction</name>
    <message>
      <source>Export (out of Hong Kong)</source>
      <translation>出口（離開香港）</translation>
    </message>
    <message>
      <source>Import (into Hong Kong)</source>
      <translation>進口（進入香港）</translation>
    </message>
  </context>
  <context>
    <name>DriverMenu</name>
    <message>
      <source>Bundle CCRNs with my vehicle</source>
      <translation>把 CCRN 與我的車輛綑綁</translation>
    </message>
    <message>
      <source>Cancel a bundle, or one CCRN of it</source>
      <translation>取消綑綁，或取消其中一個 CCRN</translation>
    </message>
    <message>
      <source>Query a bundle or the earliest crossing time</source>
      <translation>查詢綑綁或最早過境時間</translation>
    </message>
    <message>
      <source>Signed in as account {account}</source>
      <translation>已登入賬戶 {account}</translation>
    </message>
    <message>
      <source>What would you like to do?</source>
      <translation>請選擇服務</translation>
    </message>
  </context>
  <context>
    <name>Field</name>
    <message>
      <source>Account number</source>
      <translation>賬戶號碼</translation>
    </message>
    <message>
      <source>Bundling time</source>
      <translation>綑綁時間</translation>
    </message>
    <message>
      <source>CCRN</source>
      <translation>CCRN</translation>
    </message>
    <message>
      <source>CCRNs</source>
      <translation>CCRN</translation>
    </message>
    <message>
      <source>Consignee address</source>
      <translation>收貨人地址</translation>
    </message>
    <message>
      <source>Consignee name</source>
      <translation>收貨人名稱</translation>
    </message>
    <message>
      <source>Consignor address</source>
      <translation>付貨人地址</translation>
    </message>
    <message>
      <source>Consignor name</source>
      <translation>付貨人名稱</translation>
    </message>
    <message>
      <source>Container number</source>
      <translation>貨櫃號碼</translation>
    </message>
    <message>
      <source>Control point</source>
      <translation>管制站</translation>
    </message>
    <message>
      <source>Description of articles</source>
      <translation>貨品說明</translation>
    </message>
    <message>
      <source>Description of packages</source>
      <translation>包裝說明</translation>
    </message>
    <message>
      <source>Earliest crossing time</source>
      <translation>最早過境時間</translation>
    </message>
    <message>
      <source>Expected date of arrival/departure</source>
      <translation>預計抵達／離開日期</translation>
    </message>
    <message>
      <source>Import or export</source>
      <translation>進口或出口</translation>
    </message>
    <message>
      <source>Licence / permit number</source>
      <translation>牌照／許可證號碼</translation>
    </message>
    <message>
      <source>Number of packages</source>
      <translation>包裝件數</translation>
    </message>
    <message>
      <source>PIN</source>
      <translation>密碼（PIN）</translation>
    </message>
    <message>
      <source>Password</source>
      <translation>密碼</translation>
    </message>
    <message>
      <source>Security code</source>
      <translation>保安編碼</translation>
    </message>
    <message>
      <source>Status</source>
      <translation>狀態</translation>
    </message>
    <message>
      <source>Transhipment details</source>
      <translation>轉運資料</translation>
    </message>
    <message>
      <source>UBR</source>
      <translation>UBR</translation>
    </message>
    <message>
      <source>Vehicle registration number</source>
      <translation>車輛登記號碼</translation>
    </message>
  </context>
  <context>
    <name>Messages</name>
    <message>
      <source>account_invalid</source>
      <translation>賬戶號碼必須是 6 位數字。</translation>
    </message>
    <message>
      <source>account_locked</source>
      <translation>錯誤次數太多，賬戶已被鎖定，請於 {retry_after} 秒後再試。</translation>
    </message>
    <message>
      <source>batch_bad_header</source>
      <translation>第一行必須是範本的標題；缺少：{columns}。沒有資料被遞交。</translation>
    </message>
    <message>
      <source>batch_csv_bad_line</source>
      <translation>CSV 檔案由第 {line} 行起無法讀取：該行可能有未閉合的引號（"）。請改正該行，另存為「CSV UTF-8」，然後再選擇檔案。沒有資料被遞交。</translation>
    </message>
    <message>
      <source>batch_duplicate_header</source>
      <translation>第一行的標題 {columns} 出現多於一次：每個標題只可保留一欄。沒有資料被遞交。</translation>
    </message>
    <message>
      <source>batch_csv_not_utf8</source>
      <translation>此 CSV 檔案並非以 UTF-8 儲存。請在 Excel 選「另存新檔」，檔案類型選「CSV UTF-8（逗號分隔）」，然後選擇新檔案。沒有資料被遞交。</translation>
    </message>
    <message>
      <source>batch_empty</source>
      <translation>檔案沒有資料行，沒有資料被遞交。</translation>
    </message>
    <message>
      <source>batch_results_not_saved</source>
      <translation>結果未能存到 USB 手指（是否已防寫？）。完成前請記下以下的 CCRN。</translation>
    </message>
    <message>
      <source>batch_results_saved</source>
      <translation>結果（每行的 CCRN）已存到 USB 手指，放在檔案旁邊：{file}</translation>
    </message>
    <message>
      <source>batch_too_complex</source>
      <translation>檔案的儲存格、文字或格式多於一批資料可有的數量（每批最多 {max} 行貨物資料）。請只把貨物資料行複製到新檔案（不要其他工作表或格式），或把該工作表另存為「CSV UTF-8」，然後再試。沒有資料被遞交。</translation>
    </message>
    <message>
      <source>batch_too_large</source>
      <translation>檔案太大（最多 {max_kb} KB），沒有資料被遞交。</translation>
    </message>
    <message>
      <source>batch_too_many_rows</source>
      <translation>檔案行數太多（最多 {max} 行），沒有資料被遞交。</translation>
    </message>
    <message>
      <source>batch_unreadable</source>
      <translation>無法以 xlsx 或 CSV 範本讀取此檔案，沒有資料被遞交。</translation>
    </message>
    <message>
      <source>bundle_not_active</source>
      <translation>綑綁 {ubr} 已不再有效。</translation>
    </message>
    <message>
      <source>bundle_not_yours</source>
      <translation>綑綁 {ubr} 由另一個賬戶辦理。</translation>
    </message>
    <message>
      <source>cargo_bundled</source>
      <translation>CCRN {ccrn} 已綑綁（UBR {ubr}），其貨物資料不能再修改。</translation>
    </message>
    <message>
      <source>cargo_maybe_submitted</source>
      <translation>貨物資料送出後連線中斷：資料可能已儲存，但沒有收到 CCRN。請不要修改表格，再按一次「遞交」：如已儲存，會收到原來的 CCRN，不會產生第二個。</translation>
    </message>
    <message>
      <source>ccrn_added</source>
      <translation>已加入 CCRN {ccrn}。</translation>
    </message>
    <message>
      <source>ccrn_already_bundled</source>
      <translation>CCRN {ccrn} 已在另一個綑綁內，請從清單移除。</translation>
    </message>
    <message>
      <source>ccrn_direction_mismatch</source>
      <translation>CCRN {ccrn} 屬於另一方向（進口／出口）。</translation>
    </message>
    <message>
      <source>ccrn_in_another_bundle</source>
      <translation>CCRN {ccrn} 已在另一個綑綁內，不能加入。</translation>
    </message>
    <message>
      <source>ccrn_duplicate</source>
      <translation>CCRN {ccrn} 已在清單內。</translation>
    </message>
    <message>
      <source>ccrn_invalid</source>
      <translation>CCRN 是 10 位數字，請檢查號碼。</translation>
    </message>
    <message>
      <source>ccrn_not_found</source>
      <translation>道路貨物資料系統沒有 CCRN {ccrn}，請檢查號碼。</translation>
    </message>
    <message>
      <source>ccrn_not_found_never_synced</source>
      <translation>現時未能連接道路貨物資料系統，而管制站的資料副本尚未完整，未能在此核對 CCRN {ccrn}。請稍後再試或向職員查詢。</translation>
    </message>
    <message>
      <source>ccrn_not_found_stale</source>
      <translation>管制站於香港時間 {time} 的資料副本沒有 CCRN {ccrn}，而現時未能連接道路貨物資料系統：最近遞交的貨物資料可能尚未載入副本。請稍後再試或向職員查詢。</translation>
    </message>
    <message>
      <source>ccrn_not_in_bundle</source>
      <translation>CCRN {ccrn} 不在綑綁 {ubr} 內。</translation>
    </message>
    <message>
      <source>ccrn_vrn_mismatch</source>
      <translation>CCRN {ccrn} 申報的車輛是 {cargo_vrn}。</translation>
    </message>
    <message>
      <source>ccrns_empty</source>
      <translation>請先加入最少一個 CCRN。</translation>
    </message>
    <message>
      <source>central_unavailable</source>
      <translation>現時未能連接道路貨物資料系統，未能辦理此項目；查詢仍可使用。請稍後再試。</translation>
    </message>
    <message>
      <source>central_unavailable_maybe_applied</source>
      <translation>連線中斷前，道路貨物資料系統可能已收到並辦妥此項目。再試之前，請先按「查詢」核對，或向職員查詢。</translation>
    </message>
    <message>
      <source>cert_account_mismatch</source>
      <translation>此證書屬於另一個賬戶。</translation>
    </message>
    <message>
      <source>cert_expired</source>
      <translation>此證書已過期，請續期或改用保安編碼。</translation>
    </message>
    <message>
      <source>cert_no_pin</source>
      <translation>此證書檔案沒有密碼（PIN），不能用於簽署。請向你的證書簽發機構查詢。</translation>
    </message>
    <message>
      <source>cert_none_found</source>
      <translation>USB 手指內找不到證書檔案（.p12）。請插入後再試。</translation>
    </message>
    <message>
      <source>cert_not_for_signing</source>
      <translation>此證書不能用於簽署。請選擇你的簽署證書，或改用保安編碼。</translation>
    </message>
    <message>
      <source>cert_not_yet_valid</source>
      <translation>此證書尚未生效。</translation>
    </message>
    <message>
      <source>cert_revoked</source>
      <translation>此證書已被撤銷，不能使用。</translation>
    </message>
    <message>
      <source>cert_signature_invalid</source>
      <translation>未能核實數碼簽署。</translation>
    </message>
    <message>
      <source>cert_signature_stale</source>
      <translation>簽署已逾時，請再簽署。</translation>
    </message>
    <message>
      <source>cert_signature_used</source>
      <translation>此簽署已使用過，請再簽署。</translation>
    </message>
    <message>
      <source>cert_unreadable</source>
      <translation>無法讀取證書檔案。</translation>
    </message>
    <message>
      <source>cert_untrusted</source>
      <translation>此證書並非由認可的核證機關簽發。</translation>
    </message>
    <message>
      <source>container_invalid</source>
      <translation>貨櫃號碼是 4 個字母加 7 位數字。</translation>
    </message>
    <message>
      <source>cp_required</source>
      <translation>請選擇管制站。</translation>
    </message>
    <message>
      <source>credentials_invalid</source>
      <translation>賬戶號碼或密碼不正確。</translation>
    </message>
    <message>
      <source>direction_required</source>
      <translation>請選擇進口或出口。</translation>
    </message>
    <message>
      <source>error_unknown</source>
      <translation>要求被拒絕（{key}），請向職員查詢。</translation>
    </message>
    <message>
      <source>expected_date_out_of_window</source>
      <translation>日期必須在 {earliest} 至 {latest} 之間（最多 14 天後）。</translation>
    </message>
    <message>
      <source>field_bad_date</source>
      <translation>日期格式須為 YYYY-MM-DD。</translation>
    </message>
    <message>
      <source>field_bad_direction</source>
      <translation>必須是 import（進口）或 export（出口）。</translation>
    </message>
    <message>
      <source>field_invalid</source>
      <translation>無效。</translation>
    </message>
    <message>
      <source>field_not_number</source>
      <translation>必須是整數。</translation>
    </message>
    <message>
      <source>field_out_of_range</source>
      <translation>必須介乎 {min} 至 {max}。</translation>
    </message>
    <message>
      <source>field_required</source>
      <translation>必須填寫。</translation>
    </message>
    <message>
      <source>field_too_long</source>
      <translation>太長：最多 {max} 個字元。</translation>
    </message>
    <message>
      <source>form_has_errors</source>
      <translation>有 {count} 項需要更正，首項：{field}。請看紅色提示。</translation>
    </message>
    <message>
      <source>kiosk_error</source>
      <translation>發生錯誤，請再試或向職員查詢。</translation>
    </message>
    <message>
      <source>kiosk_offline</source>
      <translation>本服務站未能連接管制站系統，請稍後再試或向職員查詢。</translation>
    </message>
    <message>
      <source>media_no_stick</source>
      <translation>找不到 USB 手指。請插入 USB 手指後再試。</translation>
    </message>
    <message>
      <source>media_not_answering</source>
      <translation>USB 手指沒有回應。請拔出後重新插入再試，或向職員查詢。</translation>
    </message>
    <message>
      <source>media_not_writable</source>
      <translation>無法寫入 USB 手指，是否已防寫？</translation>
    </message>
    <message>
      <source>numbers_exhausted</source>
      <translation>系統現時未能發出編號，請向職員查詢。</translation>
    </message>
    <message>
      <source>password_required</source>
      <translation>請輸入密碼。</translation>
    </message>
    <message>
      <source>payload_too_large</source>
      <translation>單一要求的資料太多。</translation>
    </message>
    <message>
      <source>pin_required</source>
      <translation>請輸入證書的密碼（PIN）。</translation>
    </message>
    <message>
      <source>pin_wrong</source>
      <translation>密碼（PIN）不正確，或檔案不是證書。請再試。</translation>
    </message>
    <message>
      <source>print_failed</source>
      <translation>未能列印收據，請記下參考編號。</translation>
    </message>
    <message>
      <source>receipt_printed</source>
      <translation>收據已列印（{file}），請取走。</translation>
    </message>
    <message>
      <source>security_code_format</source>
      <translation>保安編碼是保安編碼器顯示的 6 位數字。</translation>
    </message>
    <message>
      <source>security_code_invalid</source>
      <translation>保安編碼不正確，請輸入保安編碼器現時顯示的編碼。</translation>
    </message>
    <message>
      <source>security_code_used</source>
      <translation>此保安編碼已使用過，請等候保安編碼器顯示下一個編碼，然後輸入該編碼。</translation>
    </message>
    <message>
      <source>template_saved</source>
      <translation>空白範本已存到 USB 手指：{files}</translation>
    </message>
    <message>
      <source>too_many_attempts</source>
      <translation>此自助服務站登入錯誤次數太多，請於 {retry_after} 秒後再試，或向關員查詢。</translation>
    </message>
    <message>
      <source>too_many_ccrns</source>
      <translation>每個綑綁最多可有 {max} 個 CCRN。</translation>
    </message>
    <message>
      <source>ubr_invalid</source>
      <translation>UBR 是 10 位數字，請檢查號碼。</translation>
    </message>
    <message>
      <source>ubr_not_found</source>
      <translation>道路貨物資料系統沒有 UBR {ubr}，請檢查號碼。</translation>
    </message>
    <message>
      <source>ubr_not_found_never_synced</source>
      <translation>現時未能連接道路貨物資料系統，而管制站的資料副本尚未完整，未能在此核對 UBR {ubr}。請稍後再試或向職員查詢。</translation>
    </message>
    <message>
      <source>ubr_not_found_stale</source>
      <translation>管制站於香港時間 {time} 的資料副本沒有 UBR {ubr}，而現時未能連接道路貨物資料系統：最近辦理的綑綁可能尚未載入副本。請稍後再試或向職員查詢。</translation>
    </message>
    <message>
      <source>unauthorized</source>
      <translation>本服務站未獲授權，請向職員查詢。</translation>
    </message>
    <message>
      <source>validation_error</source>
      <translation>部分資料無效：{fields}</translation>
    </message>
    <message>
      <source>vrn_again_required</source>
      <translation>請在旁邊的欄位再輸入一次車輛登記號碼。</translation>
    </message>
    <message>
      <source>vrn_invalid</source>
      <translation>這不是香港車輛登記號碼（最多 8 個字母及數字）。</translation>
    </message>
    <message>
      <source>vrn_mismatch</source>
      <translation>兩次輸入的號碼不同。請核對車牌，再輸入一次。</translation>
    </message>
  </context>
  <context>
    <name>Query</name>
    <message>
      <source>By CCRN</source>
      <translation>以 CCRN 查詢</translation>
    </message>
    <message>
      <source>By UBR</source>
      <translation>以 UBR 查詢</translation>
    </message>
    <message>
      <source>CCRN (10 digits)</source>
      <translation>CCRN（10 位數字）</translation>
    </message>
    <message>
      <source>Earliest crossing time</source>
      <translation>最早過境時間</translation>
    </message>
    <message>
      <source>Query</source>
      <translation>查詢</translation>
    </message>
    <message>
      <source>Search</source>
      <translation>查詢</translation>
    </message>
    <message>
      <source>UBR (10 digits)</source>
      <translation>UBR（10 位數字）</translation>
    </message>
  </context>
  <context>
    <name>QueryResult</name>
    <message>
      <source>Answered from</source>
      <translation>資料來源</translation>
    </message>
    <message>
      <source>Not before {time} HKT</source>
      <translation>不可早於香港時間 {time}</translation>
    </message>
    <message>
      <source>Result for {key}</source>
      <translation>{key} 的查詢結果</translation>
    </message>
    <message>
      <source>The centre cannot be reached: this answer comes from the control point's copy as of {time} HKT and may be out of date.</source>
      <translation>未能連接中央系統：此結果來自管制站於香港時間 {time} 的資料副本，可能不是最新。</translation>
    </message>
    <message>
      <source>The control point's copy as of {time} HKT: may be out of date</source>
      <translation>管制站於香港時間 {time} 的資料副本，可能不是最新</translation>
    </message>
    <message>
      <source>This bundle has been used already: the truck cannot use it again.</source>
      <translation>此綑綁已經使用過，車輛不能再用。</translation>
    </message>
    <message>
      <source>This bundle is cancelled: the truck cannot use it.</source>
      <translation>此綑綁已取消，車輛不能使用。</translation>
    </message>
    <message>
      <source>You may cross now (from {time} HKT)</source>
      <translation>您現在可以過境（由香港時間 {time} 起）</translation>
    </message>
    <message>
      <source>not bundled yet</source>
      <translation>尚未綑綁</translation>
    </message>
  </context>
  <context>
    <name>Receipt</name>
    <message>
      <source>Printed {time} HKT</source>
      <translation>列印時間：香港時間 {time}</translation>
    </message>
    <message>
      <source>ROCARS self-help kiosk</source>
      <translation>道路貨物資料系統 自助服務站</translation>
    </message>
  </context>
  <context>
    <name>Result</name>
    <message>
      <source>Finish</source>
      <translation>完成</translation>
    </message>
    <message>
      <source>Print receipt</source>
      <translation>列印收據</translation>
    </message>
  </context>
  <context>
    <name>ShipperMenu</name>
    <message>
      <source>Amend cargo data (until it is bundled)</source>
      <translation>修改貨物資料（綑綁前）</translation>
    </message>
    <message>
      <source>Batch upload from a USB stick</source>
      <translation>從 USB 手指批量上載</translation>
    </message>
    <message>
      <source>Cargo data</source>
      <translation>貨物資料</translation>
    </message>
    <message>
      <source>Submit cargo data and get a CCRN</source>
      <translation>遞交貨物資料並取得 CCRN</translation>
    </message>
  </context>
  <context>
    <name>Sign</name>
    <message>
      <source>Signing: bundle {count} CCRN(s) with {vrn}</source>
      <translation>簽署：把 {count} 個 CCRN 與 {vrn} 綑綁</translation>
    </message>
    <message>
      <source>Signing: cancel the whole bundle {ubr}</source>
      <translation>簽署：取消整個綑綁 {ubr}</translation>
    </message>
    <message>
      <source>Signing: take CCRN {ccrn} out of bundle {ubr}</source>
      <translation>簽署：從綑綁 {ubr} 取消 CCRN {ccrn}</translation>
    </message>
  </context>
  <context>
    <name>SignCert</name>
    <message>
      <source>Certificate files found on the USB stick:</source>
      <translation>USB 手指內的證書檔案：</translation>
    </message>
    <message>
      <source>Choose your certificate</source>
      <translation>選擇您的證書</translation>
    </message>
  </context>
  <context>
    <name>SignCode</name>
    <message>
      <source>6-digit code shown on your token now</source>
      <translation>保安編碼器現時顯示的 6 位數字</translation>
    </message>
    <message>
      <source>Enter the security code</source>
      <translation>輸入保安編碼</translation>
    </message>
    <message>
      <source>Sign</source>
      <translation>簽署</translation>
    </message>
  </context>
  <context>
    <name>SignIn</name>
    <message>
      <source>Account number (6 digits)</source>
      <translation>賬戶號碼（6 位數字）</translation>
    </message>
    <message>
      <source>Driver sign-in</source>
      <translation>司機登入</translation>
    </message>
    <message>
      <source>Password</source>
      <translation>密碼</translation>
    </message>
    <message>
      <source>Sign in</source>
      <translation>登入</translation>
    </message>
  </context>
  <context>
    <name>SignMethod</name>
    <message>
      <source>Digital certificate on a USB stick (e-Cert / ID-Cert)</source>
      <translation>USB 手指內的數碼證書（電子證書／ID-Cert）</translation>
    </message>
    <message>
      <source>How will you sign?</source>
      <translation>請選擇簽署方式</translation>
    </message>
    <message>
      <source>Security code from my token</source>
      <translation>保安編碼器的保安編碼</translation>
    </message>
  </context>
  <context>
    <name>SignPin</name>
    <message>
      <source>Enter the PIN of your certificate</source>
      <translation>輸入證書密碼（PIN）</translation>
    </message>
    <message>
      <source>PIN of {file}</source>
      <translation>{file} 的密碼（PIN）</translation>
    </message>
    <message>
      <source>Sign</source>
      <translation>簽署</translation>
    </message>
  </context>
  <context>
    <name>Start</name>
    <message>
      <source>Choose your language at the top right at any time. What do you need?</source>
      <translation>可隨時在右上角選擇語言。請問需要甚麼服務？</translation>
    </message>
    <message>
      <source>Query a bundle, a CCRN or the earliest crossing time</source>
      <translation>查詢綑綁、CCRN 或最早過境時間</translation>
    </message>
    <message>
      <source>Shipper: submit or amend cargo data</source>
      <translation>付貨人：遞交或修改貨物資料</translation>
    </message>
    <message>
      <source>Truck driver: bundle or cancel</source>
      <translation>貨車司機：綑綁或取消</translation>
    </message>
    <message>
      <source>Welcome to the ROCARS self-help kiosk</source>
      <translation>歡迎使用道路貨物資料系統自助服務站</translation>
    </message>
  </context>
  <context>
    <name>Status</name>
    <message>
      <source>Active</source>
      <translation>有效</translation>
    </message>
    <message>
      <source>Bundled</source>
      <translation>已綑綁</translation>
    </message>
    <message>
      <source>Cancelled</source>
      <translation>已取消</translation>
    </message>
    <message>
      <source>Submitted, not bundled</source>
      <translation>已遞交，未綑綁</translation>
    </message>
    <message>
      <source>Used already</source>
      <translation>已使用</translation>
    </message>
  </context>
  <context>
    <name>Window</name>
    <message>
      <source>Are you still there? Everything you entered will be cleared in {seconds} s.</source>
      <translation>請問您還在嗎？您輸入的所有資料將於 {seconds} 秒後清除。</translation>
    </message>
    <message>
      <source>Finish ✕</source>
      <translation>完成 ✕</translation>
    </message>
    <message>
      <source>I am still here</source>
      <translation>我還在</translation>
    </message>
    <message>
      <source>Please wait…</source>
      <translation>請稍候…</translation>
    </message>
    <message>
      <source>ROCARS self-help kiosk</source>
      <translation>道路貨物資料系統 自助服務站</translation>
    </message>
    <message>
      <source>Still working… {seconds} s so far. The answer is taking longer than usual; please keep waiting.</source>
      <translation>仍在處理中… 已等候 {seconds} 秒。回覆比平常慢，請繼續等候。</translation>
    </message>
    <message>
      <source>◀ Back</source>
      <translation>◀ 返回</translation>
    </message>
  </context>
</TS>
