<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="zh_CN">
  <context>
    <name>AmendCcrn</name>
    <message>
      <source>Amend: which cargo data?</source>
      <translation>修改：哪一份货物数据？</translation>
    </message>
    <message>
      <source>CCRN (10 digits)</source>
      <translation>CCRN（10 位数字）</translation>
    </message>
    <message>
      <source>Find the cargo data</source>
      <translation>查找货物数据</translation>
    </message>
  </context>
  <context>
    <name>Batch</name>
    <message>
      <source>Batch upload from a USB stick</source>
      <translation>从 U 盘批量上传</translation>
    </message>
    <message>
      <source>Files on the USB stick:</source>
      <translation>U 盘内的文件：</translation>
    </message>
    <message>
      <source>Fill in the template (xlsx or CSV, one row per consignment, at most 200 rows), put it on the USB stick and choose it below. Rows with errors are listed and not sent; the other rows get their CCRNs.</source>
      <translation>填写模板（xlsx 或 CSV，每批货物一行，最多 200 行），存到 U 盘，然后在下面选择。有错误的行会列出而不会递交；其他行会获发 CCRN。</translation>
    </message>
    <message>
      <source>No .xlsx or .csv file on the USB stick.</source>
      <translation>U 盘内没有 .xlsx 或 .csv 文件。</translation>
    </message>
    <message>
      <source>Save a blank template to the USB stick</source>
      <translation>把空白模板存到 U 盘</translation>
    </message>
    <message>
      <source>Upload {file}</source>
      <translation>上传 {file}</translation>
    </message>
  </context>
  <context>
    <name>BatchResult</name>
    <message>
      <source>Batch upload: {file}</source>
      <translation>批量上传：{file}</translation>
    </message>
    <message>
      <source>Row {row}: CCRN {ccrn}</source>
      <translation>第 {row} 行：CCRN {ccrn}</translation>
    </message>
    <message>
      <source>Row {row}: may have been saved, but no CCRN came back. Sent again in this session, it gets its CCRN, not a second one.</source>
      <translation>第 {row} 行：可能已保存，但没有收到 CCRN。在本次使用中再发送，会收到原来的 CCRN，不会产生第二个。</translation>
    </message>
    <message>
      <source>Row {row}: not sent (sending had stopped)</source>
      <translation>第 {row} 行：未发送（发送已停止）</translation>
    </message>
    <message>
      <source>Row {row}: not submitted: {reasons}</source>
      <translation>第 {row} 行：未递交：{reasons}</translation>
    </message>
    <message>
      <source>Sending stopped at row {row}: the control point system could not be reached or did not answer, so the rows after it were not sent. Choose the same file again before you finish: rows already saved keep their CCRN and are not saved twice.</source>
      <translation>发送在第 {row} 行停止：未能连接管制站系统或没有回应，其后各行均未发送。请在完成前再选择同一文件：已保存的行会保留原来的 CCRN，不会重复保存。</translation>
    </message>
    <message>
      <source>{ok} row(s) submitted, {bad} row(s) not submitted, may have been saved: {maybe}.</source>
      <translation>已递交 {ok} 行，{bad} 行未递交，可能已保存：{maybe} 行。</translation>
    </message>
    <message>
      <source>{ok} row(s) submitted, {bad} row(s) not submitted.</source>
      <translation>已递交 {ok} 行，{bad} 行未递交。</translation>
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
      <translation>捆绑：这辆货车的 CCRN</translation>
    </message>
    <message>
      <source>CCRNs to bundle: {count}</source>
      <translation>待捆绑的 CCRN：{count} 个</translation>
    </message>
    <message>
      <source>Next: vehicle and control point</source>
      <translation>下一步：车辆及管制站</translation>
    </message>
    <message>
      <source>Remove</source>
      <translation>移除</translation>
    </message>
    <message>
      <source>Type a 10-digit CCRN and press Add.</source>
      <translation>输入 10 位数字的 CCRN，然后按“加入”。</translation>
    </message>
  </context>
  <context>
    <name>BundleDetails</name>
    <message>
      <source>Bundle: vehicle, control point, direction</source>
      <translation>捆绑：车辆、管制站、方向</translation>
    </message>
    <message>
      <source>Control point you will cross at:</source>
      <translation>您将会经过的管制站：</translation>
    </message>
    <message>
      <source>Next: review</source>
      <translation>下一步：核对</translation>
    </message>
    <message>
      <source>Type it again</source>
      <translation>再输入一次</translation>
    </message>
    <message>
      <source>Vehicle registration number</source>
      <translation>车辆登记号码</translation>
    </message>
  </context>
  <context>
    <name>BundleResult</name>
    <message>
      <source>Bundled. Keep your UBR.</source>
      <translation>捆绑完成，请保留您的 UBR。</translation>
    </message>
  </context>
  <context>
    <name>BundleReview</name>
    <message>
      <source>Bundle: please check</source>
      <translation>捆绑：请核对</translation>
    </message>
    <message>
      <source>Correct: sign and bundle</source>
      <translation>正确：签署并捆绑</translation>
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
      <translation>取消整个捆绑</translation>
    </message>
    <message>
      <source>Cancel: the whole bundle or one CCRN?</source>
      <translation>取消：整个捆绑还是一个 CCRN？</translation>
    </message>
    <message>
      <source>Take one CCRN out:</source>
      <translation>取出一个 CCRN：</translation>
    </message>
  </context>
  <context>
    <name>CancelResult</name>
    <message>
      <source>CCRN {ccrn} taken out of the bundle</source>
      <translation>CCRN {ccrn} 已从捆绑中取消</translation>
    </message>
    <message>
      <source>The bundle is cancelled</source>
      <translation>捆绑已取消</translation>
    </message>
  </context>
  <context>
    <name>CancelUbr</name>
    <message>
      <source>Cancel: which bundle?</source>
      <translation>取消：哪一个捆绑？</translation>
    </message>
    <message>
      <source>Find the bundle</source>
      <translation>查找捆绑</translation>
    </message>
    <message>
      <source>UBR (10 digits)</source>
      <translation>UBR（10 位数字）</translation>
    </message>
  </context>
  <context>
    <name>CargoForm</name>
    <message>
      <source>Amend cargo data of CCRN {ccrn}</source>
      <translation>修改 CCRN {ccrn} 的货物数据</translation>
    </message>
    <message>
      <source>Filled from the control point's copy as of {time} HKT (the centre cannot be reached): it may be out of date. Check every field before submitting.</source>
      <translation>表格数据来自管制站于香港时间 {time} 的数据副本（未能连接中央系统），可能不是最新。递交前请逐项核对。</translation>
    </message>
    <message>
      <source>Submit</source>
      <translation>递交</translation>
    </message>
    <message>
      <source>Submit cargo data (* = required)</source>
      <translation>递交货物数据（* = 必须填写）</translation>
    </message>
    <message>
      <source>Submit the amendment</source>
      <translation>递交修改</translation>
    </message>
  </context>
  <context>
    <name>CargoResult</name>
    <message>
      <source>Cargo data amended</source>
      <translation>货物数据已修改</translation>
    </message>
    <message>
      <source>Cargo data submitted. Your CCRN:</source>
      <translation>货物数据已递交。您的 CCRN：</translation>
    </message>
    <message>
      <source>Submit more cargo data</source>
      <translation>递交更多货物数据</translation>
    </message>
  </context>
  <context>
    <name>ControlPoint</name>
    <message>
      <source>HZMB Hong Kong Port (Macao)</source>
      <translation>港珠澳大桥香港口岸（往来澳门）</translation>
    </message>
    <message>
      <source>HZMB Hong Kong Port (Mainland)</source>
      <translation>港珠澳大桥香港口岸（往来内地）</translation>
    </message>
    <message>
      <source>Heung Yuen Wai</source>
      <translation>香园围</translation>
    </message>
    <message>
      <source>Lok Ma Chau</source>
      <translation>落马洲</translation>
    </message>
    <message>
      <source>Man Kam To</source>
      <translation>文锦渡</translation>
    </message>
    <message>
      <source>Sha Tau Kok</source>
      <translation>沙头角</translation>
    </message>
    <message>
      <source>Shenzhen Bay</source>
      <translation>深圳湾</translation>
    </message>
  </context>
  <context>
    <name>Direction</name>
    <message>
      <source>Export (out of Hong Kong)</source>
      <translation>出口（离开香港）</translation>
    </message>
    <message>
      <source>Import (into Hong Kong)</source>
      <translation>进口（进入香港）</translation>
    </message>
  </context>
  <context>
    <name>DriverMenu</name>
    <message>
      <source>Bundle CCRNs with my vehicle</source>
      <translation>把 CCRN 与我的车辆捆绑</translation>
    </message>
    <message>
      <source>Cancel a bundle, or one CCRN of it</source>
      <translation>取消捆绑，或取消其中一个 CCRN</translation>
    </message>
    <message>
      <source>Query a bundle or the earliest crossing time</source>
      <translation>查询捆绑或最早过境时间</translation>
    </message>
    <message>
      <source>Signed in as account {account}</source>
      <translation>已登录账户 {account}</translation>
    </message>
    <message>
      <source>What would you like to do?</source>
      <translation>请选择服务</translation>
    </message>
  </context>
  <context>
    <name>Field</name>
    <message>
      <source>Account number</source>
      <translation>账户号码</translation>
    </message>
    <message>
      <source>Bundling time</source>
      <translation>捆绑时间</translation>
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
      <translation>收货人地址</translation>
    </message>
    <message>
      <source>Consignee name</source>
      <translation>收货人名称</translation>
    </message>
    <message>
      <source>Consignor address</source>
      <translation>付货人地址</translation>
    </message>
    <message>
      <source>Consignor name</source>
      <translation>付货人名称</translation>
    </message>
    <message>
      <source>Container number</source>
      <translation>货柜号码</translation>
    </message>
    <message>
      <source>Control point</source>
      <translation>管制站</translation>
    </message>
    <message>
      <source>Description of articles</source>
      <translation>货品说明</translation>
    </message>
    <message>
      <source>Description of packages</source>
      <translation>包装说明</translation>
    </message>
    <message>
      <source>Earliest crossing time</source>
      <translation>最早过境时间</translation>
    </message>
    <message>
      <source>Expected date of arrival/departure</source>
      <translation>预计抵达／离开日期</translation>
    </message>
    <message>
      <source>Import or export</source>
      <translation>进口或出口</translation>
    </message>
    <message>
      <source>Licence / permit number</source>
      <translation>牌照／许可证号码</translation>
    </message>
    <message>
      <source>Number of packages</source>
      <translation>包装件数</translation>
    </message>
    <message>
      <source>PIN</source>
      <translation>密码（PIN）</translation>
    </message>
    <message>
      <source>Password</source>
      <translation>密码</translation>
    </message>
    <message>
      <source>Security code</source>
      <translation>保安编码</translation>
    </message>
    <message>
      <source>Status</source>
      <translation>状态</translation>
    </message>
    <message>
      <source>Transhipment details</source>
      <translation>转运数据</translation>
    </message>
    <message>
      <source>UBR</source>
      <translation>UBR</translation>
    </message>
    <message>
      <source>Vehicle registration number</source>
      <translation>车辆登记号码</translation>
    </message>
  </context>
  <context>
    <name>Messages</name>
    <message>
      <source>account_invalid</source>
      <translation>账户号码必须是 6 位数字。</translation>
    </message>
    <message>
      <source>account_locked</source>
      <translation>错误次数太多，账户已被锁定，请于 {retry_after} 秒后再试。</translation>
    </message>
    <message>
      <source>batch_bad_header</source>
      <translation>第一行必须是模板的标题；缺少：{columns}。没有数据被递交。</translation>
    </message>
    <message>
      <source>batch_csv_bad_line</source>
      <translation>CSV 文件从第 {line} 行起无法读取：该行可能有未闭合的引号（"）。请改正该行，另存为“CSV UTF-8”，然后再选择文件。没有数据被递交。</translation>
    </message>
    <message>
      <source>batch_duplicate_header</source>
      <translation>第一行的标题 {columns} 出现多于一次：每个标题只可保留一栏。没有数据被递交。</translation>
    </message>
    <message>
      <source>batch_csv_not_utf8</source>
      <translation>此 CSV 文件不是以 UTF-8 保存的。请在 Excel 中选择“另存为”，文件类型选“CSV UTF-8（逗号分隔）”，然后选择新文件。没有数据被递交。</translation>
    </message>
    <message>
      <source>batch_empty</source>
      <translation>文件没有数据行，没有数据被递交。</translation>
    </message>
    <message>
      <source>batch_results_not_saved</source>
      <translation>结果未能存到 U 盘（是否已写保护？）。完成前请记下以下的 CCRN。</translation>
    </message>
    <message>
      <source>batch_results_saved</source>
      <translation>结果（每行的 CCRN）已存到 U 盘，放在文件旁边：{file}</translation>
    </message>
    <message>
      <source>batch_too_complex</source>
      <translation>文件的单元格、文字或格式多于一批数据可有的数量（每批最多 {max} 行货物数据）。请只把货物数据行复制到新文件（不要其他工作表或格式），或把该工作表另存为“CSV UTF-8”，然后再试。没有数据被递交。</translation>
    </message>
    <message>
      <source>batch_too_large</source>
      <translation>文件太大（最多 {max_kb} KB），没有数据被递交。</translation>
    </message>
    <message>
      <source>batch_too_many_rows</source>
      <translation>文件行数太多（最多 {max} 行），没有数据被递交。</translation>
    </message>
    <message>
      <source>batch_unreadable</source>
      <translation>无法以 xlsx 或 CSV 模板读取此文件，没有数据被递交。</translation>
    </message>
    <message>
      <source>bundle_not_active</source>
      <translation>捆绑 {ubr} 已不再有效。</translation>
    </message>
    <message>
      <source>bundle_not_yours</source>
      <translation>捆绑 {ubr} 由另一个账户办理。</translation>
    </message>
    <message>
      <source>cargo_bundled</source>
      <translation>CCRN {ccrn} 已捆绑（UBR {ubr}），其货物数据不能再修改。</translation>
    </message>
    <message>
      <source>cargo_maybe_submitted</source>
      <translation>货物数据送出后连接中断：数据可能已保存，但没有收到 CCRN。请不要修改表格，再按一次“递交”：如已保存，会收到原来的 CCRN，不会产生第二个。</translation>
    </message>
    <message>
      <source>ccrn_added</source>
      <translation>已加入 CCRN {ccrn}。</translation>
    </message>
    <message>
      <source>ccrn_already_bundled</source>
      <translation>CCRN {ccrn} 已在另一个捆绑内，请从清单移除。</translation>
    </message>
    <message>
      <source>ccrn_direction_mismatch</source>
      <translation>CCRN {ccrn} 属于另一方向（进口／出口）。</translation>
    </message>
    <message>
      <source>ccrn_in_another_bundle</source>
      <translation>CCRN {ccrn} 已在另一个捆绑内，不能加入。</translation>
    </message>
    <message>
      <source>ccrn_duplicate</source>
      <translation>CCRN {ccrn} 已在清单内。</translation>
    </message>
    <message>
      <source>ccrn_invalid</source>
      <translation>CCRN 是 10 位数字，请检查号码。</translation>
    </message>
    <message>
      <source>ccrn_not_found</source>
      <translation>道路货物资料系统没有 CCRN {ccrn}，请检查号码。</translation>
    </message>
    <message>
      <source>ccrn_not_found_never_synced</source>
      <translation>现时未能连接道路货物资料系统，而管制站的数据副本尚未完整，未能在此核对 CCRN {ccrn}。请稍后再试或向职员查询。</translation>
    </message>
    <message>
      <source>ccrn_not_found_stale</source>
      <translation>管制站于香港时间 {time} 的数据副本没有 CCRN {ccrn}，而现时未能连接道路货物资料系统：最近递交的货物数据可能尚未载入副本。请稍后再试或向职员查询。</translation>
    </message>
    <message>
      <source>ccrn_not_in_bundle</source>
      <translation>CCRN {ccrn} 不在捆绑 {ubr} 内。</translation>
    </message>
    <message>
      <source>ccrn_vrn_mismatch</source>
      <translation>CCRN {ccrn} 申报的车辆是 {cargo_vrn}。</translation>
    </message>
    <message>
      <source>ccrns_empty</source>
      <translation>请先加入最少一个 CCRN。</translation>
    </message>
    <message>
      <source>central_unavailable</source>
      <translation>现时未能连接道路货物资料系统，未能办理此项目；查询仍可使用。请稍后再试。</translation>
    </message>
    <message>
      <source>central_unavailable_maybe_applied</source>
      <translation>连接中断前，道路货物资料系统可能已收到并办妥此项目。再试之前，请先按“查询”核对，或向职员查询。</translation>
    </message>
    <message>
      <source>cert_account_mismatch</source>
      <translation>此证书属于另一个账户。</translation>
    </message>
    <message>
      <source>cert_expired</source>
      <translation>此证书已过期，请续期或改用保安编码。</translation>
    </message>
    <message>
      <source>cert_no_pin</source>
      <translation>此证书文件没有密码（PIN），不能用于签署。请向你的证书签发机构查询。</translation>
    </message>
    <message>
      <source>cert_none_found</source>
      <translation>U 盘内找不到证书文件（.p12）。请插入后再试。</translation>
    </message>
    <message>
      <source>cert_not_for_signing</source>
      <translation>此证书不能用于签署。请选择你的签署证书，或改用保安编码。</translation>
    </message>
    <message>
      <source>cert_not_yet_valid</source>
      <translation>此证书尚未生效。</translation>
    </message>
    <message>
      <source>cert_revoked</source>
      <translation>此证书已被撤销，不能使用。</translation>
    </message>
    <message>
      <source>cert_signature_invalid</source>
      <translation>未能核实数码签署。</translation>
    </message>
    <message>
      <source>cert_signature_stale</source>
      <translation>签署已逾时，请再签署。</translation>
    </message>
    <message>
      <source>cert_signature_used</source>
      <translation>此签署已使用过，请再签署。</translation>
    </message>
    <message>
      <source>cert_unreadable</source>
      <translation>无法读取证书文件。</translation>
    </message>
    <message>
      <source>cert_untrusted</source>
      <translation>此证书并非由认可的核证机关签发。</translation>
    </message>
    <message>
      <source>container_invalid</source>
      <translation>货柜号码是 4 个字母加 7 位数字。</translation>
    </message>
    <message>
      <source>cp_required</source>
      <translation>请选择管制站。</translation>
    </message>
    <message>
      <source>credentials_invalid</source>
      <translation>账户号码或密码不正确。</translation>
    </message>
    <message>
      <source>direction_required</source>
      <translation>请选择进口或出口。</translation>
    </message>
    <message>
      <source>error_unknown</source>
      <translation>请求被拒绝（{key}），请向职员查询。</translation>
    </message>
    <message>
      <source>expected_date_out_of_window</source>
      <translation>日期必须在 {earliest} 至 {latest} 之间（最多 14 天后）。</translation>
    </message>
    <message>
      <source>field_bad_date</source>
      <translation>日期格式须为 YYYY-MM-DD。</translation>
    </message>
    <message>
      <source>field_bad_direction</source>
      <translation>必须是 import（进口）或 export（出口）。</translation>
    </message>
    <message>
      <source>field_invalid</source>
      <translation>无效。</translation>
    </message>
    <message>
      <source>field_not_number</source>
      <translation>必须是整数。</translation>
    </message>
    <message>
      <source>field_out_of_range</source>
      <translation>必须介乎 {min} 至 {max}。</translation>
    </message>
    <message>
      <source>field_required</source>
      <translation>必须填写。</translation>
    </message>
    <message>
      <source>field_too_long</source>
      <translation>太长：最多 {max} 个字符。</translation>
    </message>
    <message>
      <source>form_has_errors</source>
      <translation>有 {count} 项需要更正，首项：{field}。请看红色提示。</translation>
    </message>
    <message>
      <source>kiosk_error</source>
      <translation>发生错误，请再试或向职员查询。</translation>
    </message>
    <message>
      <source>kiosk_offline</source>
      <translation>本服务站未能连接管制站系统，请稍后再试或向职员查询。</translation>
    </message>
    <message>
      <source>media_no_stick</source>
      <translation>找不到 U 盘。请插入 U 盘后再试。</translation>
    </message>
    <message>
      <source>media_not_answering</source>
      <translation>U 盘没有响应。请拔出后重新插入再试，或向职员查询。</translation>
    </message>
    <message>
      <source>media_not_writable</source>
      <translation>无法写入 U 盘，是否已写保护？</translation>
    </message>
    <message>
      <source>numbers_exhausted</source>
      <translation>系统现时未能发出编号，请向职员查询。</translation>
    </message>
    <message>
      <source>password_required</source>
      <translation>请输入密码。</translation>
    </message>
    <message>
      <source>payload_too_large</source>
      <translation>单一请求的数据太多。</translation>
    </message>
    <message>
      <source>pin_required</source>
      <translation>请输入证书的密码（PIN）。</translation>
    </message>
    <message>
      <source>pin_wrong</source>
      <translation>密码（PIN）不正确，或文件不是证书。请再试。</translation>
    </message>
    <message>
      <source>print_failed</source>
      <translation>未能打印收据，请记下参考编号。</translation>
    </message>
    <message>
      <source>receipt_printed</source>
      <translation>收据已打印（{file}），请取走。</translation>
    </message>
    <message>
      <source>security_code_format</source>
      <translation>保安编码是保安编码器显示的 6 位数字。</translation>
    </message>
    <message>
      <source>security_code_invalid</source>
      <translation>保安编码不正确，请输入保安编码器现时显示的编码。</translation>
    </message>
    <message>
      <source>security_code_used</source>
      <translation>此保安编码已使用过，请等候保安编码器显示下一个编码，然后输入该编码。</translation>
    </message>
    <message>
      <source>template_saved</source>
      <translation>空白模板已存到 U 盘：{files}</translation>
    </message>
    <message>
      <source>too_many_attempts</source>
      <translation>此自助服务站登录错误次数太多，请于 {retry_after} 秒后再试，或向关员查询。</translation>
    </message>
    <message>
      <source>too_many_ccrns</source>
      <translation>每个捆绑最多可有 {max} 个 CCRN。</translation>
    </message>
    <message>
      <source>ubr_invalid</source>
      <translation>UBR 是 10 位数字，请检查号码。</translation>
    </message>
    <message>
      <source>ubr_not_found</source>
      <translation>道路货物资料系统没有 UBR {ubr}，请检查号码。</translation>
    </message>
    <message>
      <source>ubr_not_found_never_synced</source>
      <translation>现时未能连接道路货物资料系统，而管制站的数据副本尚未完整，未能在此核对 UBR {ubr}。请稍后再试或向职员查询。</translation>
    </message>
    <message>
      <source>ubr_not_found_stale</source>
      <translation>管制站于香港时间 {time} 的数据副本没有 UBR {ubr}，而现时未能连接道路货物资料系统：最近办理的捆绑可能尚未载入副本。请稍后再试或向职员查询。</translation>
    </message>
    <message>
      <source>unauthorized</source>
      <translation>本服务站未获授权，请向职员查询。</translation>
    </message>
    <message>
      <source>validation_error</source>
      <translation>部分数据无效：{fields}</translation>
    </message>
    <message>
      <source>vrn_again_required</source>
      <translation>请在旁边的输入框中再输入一次车辆登记号码。</translation>
    </message>
    <message>
      <source>vrn_invalid</source>
      <translation>这不是香港车辆登记号码（最多 8 个字母及数字）。</translation>
    </message>
    <message>
      <source>vrn_mismatch</source>
      <translation>两次输入的号码不同。请核对车牌，再输入一次。</translation>
    </message>
  </context>
  <context>
    <name>Query</name>
    <message>
      <source>By CCRN</source>
      <translation>以 CCRN 查询</translation>
    </message>
    <message>
      <source>By UBR</source>
      <translation>以 UBR 查询</translation>
    </message>
    <message>
      <source>CCRN (10 digits)</source>
      <translation>CCRN（10 位数字）</translation>
    </message>
    <message>
      <source>Earliest crossing time</source>
      <translation>最早过境时间</translation>
    </message>
    <message>
      <source>Query</source>
      <translation>查询</translation>
    </message>
    <message>
      <source>Search</source>
      <translation>查询</translation>
    </message>
    <message>
      <source>UBR (10 digits)</source>
      <translation>UBR（10 位数字）</translation>
    </message>
  </context>
  <context>
    <name>QueryResult</name>
    <message>
      <source>Answered from</source>
      <translation>数据来源</translation>
    </message>
    <message>
      <source>Not before {time} HKT</source>
      <translation>不可早于香港时间 {time}</translation>
    </message>
    <message>
      <source>Result for {key}</source>
      <translation>{key} 的查询结果</translation>
    </message>
    <message>
      <source>The centre cannot be reached: this answer comes from the control point's copy as of {time} HKT and may be out of date.</source>
      <translation>未能连接中央系统：此结果来自管制站于香港时间 {time} 的数据副本，可能不是最新。</translation>
    </message>
    <message>
      <source>The control point's copy as of {time} HKT: may be out of date</source>
      <translation>管制站于香港时间 {time} 的数据副本，可能不是最新</translation>
    </message>
    <message>
      <source>This bundle has been used already: the truck cannot use it again.</source>
      <translation>此捆绑已经使用过，车辆不能再用。</translation>
    </message>
    <message>
      <source>This bundle is cancelled: the truck cannot use it.</source>
      <translation>此捆绑已取消，车辆不能使用。</translation>
    </message>
    <message>
      <source>You may cross now (from {time} HKT)</source>
      <translation>您现在可以过境（由香港时间 {time} 起）</translation>
    </message>
    <message>
      <source>not bundled yet</source>
      <translation>尚未捆绑</translation>
    </message>
  </context>
  <context>
    <name>Receipt</name>
    <message>
      <source>Printed {time} HKT</source>
      <translation>打印时间：香港时间 {time}</translation>
    </message>
    <message>
      <source>ROCARS self-help kiosk</source>
      <translation>道路货物资料系统 自助服务站</translation>
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
      <translation>打印收据</translation>
    </message>
  </context>
  <context>
    <name>ShipperMenu</name>
    <message>
      <source>Amend cargo data (until it is bundled)</source>
      <translation>修改货物数据（捆绑前）</translation>
    </message>
    <message>
      <source>Batch upload from a USB stick</source>
      <translation>从 U 盘批量上传</translation>
    </message>
    <message>
      <source>Cargo data</source>
      <translation>货物数据</translation>
    </message>
    <message>
      <source>Submit cargo data and get a CCRN</source>
      <translation>递交货物数据并取得 CCRN</translation>
    </message>
  </context>
  <context>
    <name>Sign</name>
    <message>
      <source>Signing: bundle {count} CCRN(s) with {vrn}</source>
      <translation>签署：把 {count} 个 CCRN 与 {vrn} 捆绑</translation>
    </message>
    <message>
      <source>Signing: cancel the whole bundle {ubr}</source>
      <translation>签署：取消整个捆绑 {ubr}</translation>
    </message>
    <message>
      <source>Signing: take CCRN {ccrn} out of bundle {ubr}</source>
      <translation>签署：从捆绑 {ubr} 取消 CCRN {ccrn}</translation>
    </message>
  </context>
  <context>
    <name>SignCert</name>
    <message>
      <source>Certificate files found on the USB stick:</source>
      <translation>U 盘内的证书文件：</translation>
    </message>
    <message>
      <source>Choose your certificate</source>
      <translation>选择您的证书</translation>
    </message>
  </context>
  <context>
    <name>SignCode</name>
    <message>
      <source>6-digit code shown on your token now</source>
      <translation>保安编码器现时显示的 6 位数字</translation>
    </message>
    <message>
      <source>Enter the security code</source>
      <translation>输入保安编码</translation>
    </message>
    <message>
      <source>Sign</source>
      <translation>签署</translation>
    </message>
  </context>
  <context>
    <name>SignIn</name>
    <message>
      <source>Account number (6 digits)</source>
      <translation>账户号码（6 位数字）</translation>
    </message>
    <message>
      <source>Driver sign-in</source>
      <translation>司机登录</translation>
    </message>
    <message>
      <source>Password</source>
      <translation>密码</translation>
    </message>
    <message>
      <source>Sign in</source>
      <translation>登录</translation>
    </message>
  </context>
  <context>
    <name>SignMethod</name>
    <message>
      <source>Digital certificate on a USB stick (e-Cert / ID-Cert)</source>
      <translation>U 盘内的数码证书（电子证书／ID-Cert）</translation>
    </message>
    <message>
      <source>How will you sign?</source>
      <translation>请选择签署方式</translation>
    </message>
    <message>
      <source>Security code from my token</source>
      <translation>保安编码器的保安编码</translation>
    </message>
  </context>
  <context>
    <name>SignPin</name>
    <message>
      <source>Enter the PIN of your certificate</source>
      <translation>输入证书密码（PIN）</translation>
    </message>
    <message>
      <source>PIN of {file}</source>
      <translation>{file} 的密码（PIN）</translation>
    </message>
    <message>
      <source>Sign</source>
      <translation>签署</translation>
    </message>
  </context>
  <context>
    <name>Start</name>
    <message>
      <source>Choose your language at the top right at any time. What do you need?</source>
      <translation>可随时在右上角选择语言。请问需要什么服务？</translation>
    </message>
    <message>
      <source>Query a bundle, a CCRN or the earliest crossing time</source>
      <translation>查询捆绑、CCRN 或最早过境时间</translation>
    </message>
    <message>
      <source>Shipper: submit or amend cargo data</source>
      <translation>付货人：递交或修改货物数据</translation>
    </message>
    <message>
      <source>Truck driver: bundle or cancel</source>
      <translation>货车司机：捆绑或取消</translation>
    </message>
    <message>
      <source>Welcome to the ROCARS self-help kiosk</source>
      <translation>欢迎使用道路货物资料系统自助服务站</translation>
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
      <translation>已捆绑</translation>
    </message>
    <message>
      <source>Cancelled</source>
      <translation>已取消</translation>
    </message>
    <message>
      <source>Submitted, not bundled</source>
      <translation>已递交，未捆绑</translation>
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
      <translation>请问您还在吗？您输入的所有数据将于 {seconds} 秒后清除。</translation>
    </message>
    <message>
      <source>Finish ✕</source>
      <translation>完成 ✕</translation>
    </message>
    <message>
      <source>I am still here</source>
      <translation>我还在</translation>
    </message>
    <message>
      <source>Please wait…</source>
      <translation>请稍候…</translation>
    </message>
    <message>
      <source>ROCARS self-help kiosk</source>
      <translation>道路货物资料系统 自助服务站</translation>
    </message>
    <message>
      <source>Still working… {seconds} s so far. The answer is taking longer than usual; please keep waiting.</source>
      <translation>仍在处理中… 已等候 {seconds} 秒。回复比平常慢，请继续等候。</translation>
    </message>
    <message>
      <source>◀ Back</source>
      <translation>◀ 返回</translation>
    </message>
  </context>
</TS>
