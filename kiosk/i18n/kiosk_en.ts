<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="en">
  <context>
    <name>AmendCcrn</name>
    <message>
      <source>Amend: which cargo data?</source>
      <translation>Amend: which cargo data?</translation>
    </message>
    <message>
      <source>CCRN (10 digits)</source>
      <translation>CCRN (10 digits)</translation>
    </message>
    <message>
      <source>Find the cargo data</source>
      <translation>Find the cargo data</translation>
    </message>
  </context>
  <context>
    <name>Batch</name>
    <message>
      <source>Batch upload from a USB stick</source>
      <translation>Batch upload from a USB stick</translation>
    </message>
    <message>
      <source>Files on the USB stick:</source>
      <translation>Files on the USB stick:</translation>
    </message>
    <message>
      <source>Fill in the template (xlsx or CSV, one row per consignment, at most 200 rows), put it on the USB stick and choose it below. Rows with errors are listed and not sent; the other rows get their CCRNs.</source>
      <translation>Fill in the template (xlsx or CSV, one row per consignment, at most 200 rows), put it on the USB stick and choose it below. Rows with errors are listed and not sent; the other rows get their CCRNs.</translation>
    </message>
    <message>
      <source>No .xlsx or .csv file on the USB stick.</source>
      <translation>No .xlsx or .csv file on the USB stick.</translation>
    </message>
    <message>
      <source>Save a blank template to the USB stick</source>
      <translation>Save a blank template to the USB stick</translation>
    </message>
    <message>
      <source>Upload {file}</source>
      <translation>Upload {file}</translation>
    </message>
  </context>
  <context>
    <name>BatchResult</name>
    <message>
      <source>Batch upload: {file}</source>
      <translation>Batch upload: {file}</translation>
    </message>
    <message>
      <source>Row {row}: CCRN {ccrn}</source>
      <translation>Row {row}: CCRN {ccrn}</translation>
    </message>
    <message>
      <source>Row {row}: may have been saved, but no CCRN came back. Sent again in this session, it gets its CCRN, not a second one.</source>
      <translation>Row {row}: may have been saved, but no CCRN came back. Sent again in this session, it gets its CCRN, not a second one.</translation>
    </message>
    <message>
      <source>Row {row}: not sent (sending had stopped)</source>
      <translation>Row {row}: not sent (sending had stopped)</translation>
    </message>
    <message>
      <source>Row {row}: not submitted: {reasons}</source>
      <translation>Row {row}: not submitted: {reasons}</translation>
    </message>
    <message>
      <source>Sending stopped at row {row}: the control point system could not be reached or did not answer, so the rows after it were not sent. Choose the same file again before you finish: rows already saved keep their CCRN and are not saved twice.</source>
      <translation>Sending stopped at row {row}: the control point system could not be reached or did not answer, so the rows after it were not sent. Choose the same file again before you finish: rows already saved keep their CCRN and are not saved twice.</translation>
    </message>
    <message>
      <source>{ok} row(s) submitted, {bad} row(s) not submitted, may have been saved: {maybe}.</source>
      <translation>{ok} row(s) submitted, {bad} row(s) not submitted, may have been saved: {maybe}.</translation>
    </message>
    <message>
      <source>{ok} row(s) submitted, {bad} row(s) not submitted.</source>
      <translation>{ok} row(s) submitted, {bad} row(s) not submitted.</translation>
    </message>
  </context>
  <context>
    <name>BundleCcrns</name>
    <message>
      <source>Add</source>
      <translation>Add</translation>
    </message>
    <message>
      <source>Bundle: the CCRNs on this truck</source>
      <translation>Bundle: the CCRNs on this truck</translation>
    </message>
    <message>
      <source>CCRNs to bundle: {count}</source>
      <translation>CCRNs to bundle: {count}</translation>
    </message>
    <message>
      <source>Next: vehicle and control point</source>
      <translation>Next: vehicle and control point</translation>
    </message>
    <message>
      <source>Remove</source>
      <translation>Remove</translation>
    </message>
    <message>
      <source>Type a 10-digit CCRN and press Add.</source>
      <translation>Type a 10-digit CCRN and press Add.</translation>
    </message>
  </context>
  <context>
    <name>BundleDetails</name>
    <message>
      <source>Bundle: vehicle, control point, direction</source>
      <translation>Bundle: vehicle, control point, direction</translation>
    </message>
    <message>
      <source>Control point you will cross at:</source>
      <translation>Control point you will cross at:</translation>
    </message>
    <message>
      <source>Next: review</source>
      <translation>Next: review</translation>
    </message>
    <message>
      <source>Type it again</source>
      <translation>Type it again</translation>
    </message>
    <message>
      <source>Vehicle registration number</source>
      <translation>Vehicle registration number</translation>
    </message>
  </context>
  <context>
    <name>BundleResult</name>
    <message>
      <source>Bundled. Keep your UBR.</source>
      <translation>Bundled. Keep your UBR.</translation>
    </message>
  </context>
  <context>
    <name>BundleReview</name>
    <message>
      <source>Bundle: please check</source>
      <translation>Bundle: please check</translation>
    </message>
    <message>
      <source>Correct: sign and bundle</source>
      <translation>Correct: sign and bundle</translation>
    </message>
  </context>
  <context>
    <name>CancelChoose</name>
    <message>
      <source>Cancel CCRN {ccrn}</source>
      <translation>Cancel CCRN {ccrn}</translation>
    </message>
    <message>
      <source>Cancel the whole bundle</source>
      <translation>Cancel the whole bundle</translation>
    </message>
    <message>
      <source>Cancel: the whole bundle or one CCRN?</source>
      <translation>Cancel: the whole bundle or one CCRN?</translation>
    </message>
    <message>
      <source>Take one CCRN out:</source>
      <translation>Take one CCRN out:</translation>
    </message>
  </context>
  <context>
    <name>CancelResult</name>
    <message>
      <source>CCRN {ccrn} taken out of the bundle</source>
      <translation>CCRN {ccrn} taken out of the bundle</translation>
    </message>
    <message>
      <source>The bundle is cancelled</source>
      <translation>The bundle is cancelled</translation>
    </message>
  </context>
  <context>
    <name>CancelUbr</name>
    <message>
      <source>Cancel: which bundle?</source>
      <translation>Cancel: which bundle?</translation>
    </message>
    <message>
      <source>Find the bundle</source>
      <translation>Find the bundle</translation>
    </message>
    <message>
      <source>UBR (10 digits)</source>
      <translation>UBR (10 digits)</translation>
    </message>
  </context>
  <context>
    <name>CargoForm</name>
    <message>
      <source>Amend cargo data of CCRN {ccrn}</source>
      <translation>Amend cargo data of CCRN {ccrn}</translation>
    </message>
    <message>
      <source>Filled from the control point's copy as of {time} HKT (the centre cannot be reached): it may be out of date. Check every field before submitting.</source>
      <translation>Filled from the control point's copy as of {time} HKT (the centre cannot be reached): it may be out of date. Check every field before submitting.</translation>
    </message>
    <message>
      <source>Submit</source>
      <translation>Submit</translation>
    </message>
    <message>
      <source>Submit cargo data (* = required)</source>
      <translation>Submit cargo data (* = required)</translation>
    </message>
    <message>
      <source>Submit the amendment</source>
      <translation>Submit the amendment</translation>
    </message>
  </context>
  <context>
    <name>CargoResult</name>
    <message>
      <source>Cargo data amended</source>
      <translation>Cargo data amended</translation>
    </message>
    <message>
      <source>Cargo data submitted. Your CCRN:</source>
      <translation>Cargo data submitted. Your CCRN:</translation>
    </message>
    <message>
      <source>Submit more cargo data</source>
      <translation>Submit more cargo data</translation>
    </message>
  </context>
  <context>
    <name>ControlPoint</name>
    <message>
      <source>HZMB Hong Kong Port (Macao)</source>
      <translation>HZMB Hong Kong Port (Macao)</translation>
    </message>
    <message>
      <source>HZMB Hong Kong Port (Mainland)</source>
      <translation>HZMB Hong Kong Port (Mainland)</translation>
    </message>
    <message>
      <source>Heung Yuen Wai</source>
      <translation>Heung Yuen Wai</translation>
    </message>
    <message>
      <source>Lok Ma Chau</source>
      <translation>Lok Ma Chau</translation>
    </message>
    <message>
      <source>Man Kam To</source>
      <translation>Man Kam To</translation>
    </message>
    <message>
      <source>Sha Tau Kok</source>
      <translation>Sha Tau Kok</translation>
    </message>
    <message>
      <source>Shenzhen Bay</source>
      <translation>Shenzhen Bay</translation>
    </message>
  </context>
  <context>
    <name>Direction</name>
    <message>
      <source>Export (out of Hong Kong)</source>
      <translation>Export (out of Hong Kong)</translation>
    </message>
    <message>
      <source>Import (into Hong Kong)</source>
      <translation>Import (into Hong Kong)</translation>
    </message>
  </context>
  <context>
    <name>DriverMenu</name>
    <message>
      <source>Bundle CCRNs with my vehicle</source>
      <translation>Bundle CCRNs with my vehicle</translation>
    </message>
    <message>
      <source>Cancel a bundle, or one CCRN of it</source>
      <translation>Cancel a bundle, or one CCRN of it</translation>
    </message>
    <message>
      <source>Query a bundle or the earliest crossing time</source>
      <translation>Query a bundle or the earliest crossing time</translation>
    </message>
    <message>
      <source>Signed in as account {account}</source>
      <translation>Signed in as account {account}</translation>
    </message>
    <message>
      <source>What would you like to do?</source>
      <translation>What would you like to do?</translation>
    </message>
  </context>
  <context>
    <name>Field</name>
    <message>
      <source>Account number</source>
      <translation>Account number</translation>
    </message>
    <message>
      <source>Bundling time</source>
      <translation>Bundling time</translation>
    </message>
    <message>
      <source>CCRN</source>
      <translation>CCRN</translation>
    </message>
    <message>
      <source>CCRNs</source>
      <translation>CCRNs</translation>
    </message>
    <message>
      <source>Consignee address</source>
      <translation>Consignee address</translation>
    </message>
    <message>
      <source>Consignee name</source>
      <translation>Consignee name</translation>
    </message>
    <message>
      <source>Consignor address</source>
      <translation>Consignor address</translation>
    </message>
    <message>
      <source>Consignor name</source>
      <translation>Consignor name</translation>
    </message>
    <message>
      <source>Container number</source>
      <translation>Container number</translation>
    </message>
    <message>
      <source>Control point</source>
      <translation>Control point</translation>
    </message>
    <message>
      <source>Description of articles</source>
      <translation>Description of articles</translation>
    </message>
    <message>
      <source>Description of packages</source>
      <translation>Description of packages</translation>
    </message>
    <message>
      <source>Earliest crossing time</source>
      <translation>Earliest crossing time</translation>
    </message>
    <message>
      <source>Expected date of arrival/departure</source>
      <translation>Expected date of arrival/departure</translation>
    </message>
    <message>
      <source>Import or export</source>
      <translation>Import or export</translation>
    </message>
    <message>
      <source>Licence / permit number</source>
      <translation>Licence / permit number</translation>
    </message>
    <message>
      <source>Number of packages</source>
      <translation>Number of packages</translation>
    </message>
    <message>
      <source>PIN</source>
      <translation>PIN</translation>
    </message>
    <message>
      <source>Password</source>
      <translation>Password</translation>
    </message>
    <message>
      <source>Security code</source>
      <translation>Security code</translation>
    </message>
    <message>
      <source>Status</source>
      <translation>Status</translation>
    </message>
    <message>
      <source>Transhipment details</source>
      <translation>Transhipment details</translation>
    </message>
    <message>
      <source>UBR</source>
      <translation>UBR</translation>
    </message>
    <message>
      <source>Vehicle registration number</source>
      <translation>Vehicle registration number</translation>
    </message>
  </context>
  <context>
    <name>Messages</name>
    <message>
      <source>account_invalid</source>
      <translation>The account number must be 6 digits.</translation>
    </message>
    <message>
      <source>account_locked</source>
      <translation>Too many wrong attempts: the account is locked. Try again in {retry_after} s.</translation>
    </message>
    <message>
      <source>batch_bad_header</source>
      <translation>The first row must be the template's headings; missing: {columns}. Nothing was submitted.</translation>
    </message>
    <message>
      <source>batch_csv_bad_line</source>
      <translation>The CSV file cannot be read from line {line}: a quotation mark (") there may not be closed. Correct that line, save the file as CSV UTF-8 and choose it again. Nothing was submitted.</translation>
    </message>
    <message>
      <source>batch_duplicate_header</source>
      <translation>The first row names {columns} more than once: keep one column of each. Nothing was submitted.</translation>
    </message>
    <message>
      <source>batch_csv_not_utf8</source>
      <translation>This CSV file is not saved as UTF-8. In Excel choose "Save As" with the file type "CSV UTF-8 (Comma delimited)", then choose the new file. Nothing was submitted.</translation>
    </message>
    <message>
      <source>batch_empty</source>
      <translation>The file has no data rows. Nothing was submitted.</translation>
    </message>
    <message>
      <source>batch_results_not_saved</source>
      <translation>The results could not be saved to the USB stick (is it write-protected?). Note the CCRNs below before you finish.</translation>
    </message>
    <message>
      <source>batch_results_saved</source>
      <translation>The results (each row's CCRN) were saved on the USB stick beside the file: {file}</translation>
    </message>
    <message>
      <source>batch_too_complex</source>
      <translation>The file holds more cells, text or formatting than a batch can have (at most {max} cargo rows). Copy just the cargo rows into a new file, without other sheets or formatting, or save that sheet as CSV UTF-8, then try again. Nothing was submitted.</translation>
    </message>
    <message>
      <source>batch_too_large</source>
      <translation>The file is too large (at most {max_kb} KB). Nothing was submitted.</translation>
    </message>
    <message>
      <source>batch_too_many_rows</source>
      <translation>The file has too many rows (at most {max}). Nothing was submitted.</translation>
    </message>
    <message>
      <source>batch_unreadable</source>
      <translation>This file cannot be read as an xlsx or CSV template. Nothing was submitted.</translation>
    </message>
    <message>
      <source>bundle_not_active</source>
      <translation>Bundle {ubr} is no longer active.</translation>
    </message>
    <message>
      <source>bundle_not_yours</source>
      <translation>Bundle {ubr} was made by another account.</translation>
    </message>
    <message>
      <source>cargo_bundled</source>
      <translation>CCRN {ccrn} is already bundled (UBR {ubr}); its cargo data can no longer be amended.</translation>
    </message>
    <message>
      <source>cargo_maybe_submitted</source>
      <translation>The connection was lost after the cargo data was sent: it may have been saved, but no CCRN came back. Press Submit again without changing the form: if it was saved, you get its CCRN, not a second one.</translation>
    </message>
    <message>
      <source>ccrn_added</source>
      <translation>CCRN {ccrn} added.</translation>
    </message>
    <message>
      <source>ccrn_already_bundled</source>
      <translation>CCRN {ccrn} is already in another bundle. Remove it from the list.</translation>
    </message>
    <message>
      <source>ccrn_direction_mismatch</source>
      <translation>CCRN {ccrn} is for the other direction (import/export).</translation>
    </message>
    <message>
      <source>ccrn_in_another_bundle</source>
      <translation>CCRN {ccrn} is already in another bundle: it cannot be added.</translation>
    </message>
    <message>
      <source>ccrn_duplicate</source>
      <translation>CCRN {ccrn} is already in the list.</translation>
    </message>
    <message>
      <source>ccrn_invalid</source>
      <translation>A CCRN is 10 digits. Please check the number.</translation>
    </message>
    <message>
      <source>ccrn_not_found</source>
      <translation>CCRN {ccrn} is not known to ROCARS. Please check the number.</translation>
    </message>
    <message>
      <source>ccrn_not_found_never_synced</source>
      <translation>ROCARS cannot be reached now and this control point's copy of the ROCARS records is not complete yet, so CCRN {ccrn} cannot be checked here. Please try again later or ask staff.</translation>
    </message>
    <message>
      <source>ccrn_not_found_stale</source>
      <translation>CCRN {ccrn} is not in this control point's copy of the ROCARS records as of {time} HKT, and ROCARS cannot be reached now: recently submitted cargo data may not be in the copy yet. Please try again later or ask staff.</translation>
    </message>
    <message>
      <source>ccrn_not_in_bundle</source>
      <translation>CCRN {ccrn} is not in bundle {ubr}.</translation>
    </message>
    <message>
      <source>ccrn_vrn_mismatch</source>
      <translation>CCRN {ccrn} was declared for vehicle {cargo_vrn}.</translation>
    </message>
    <message>
      <source>ccrns_empty</source>
      <translation>Add at least one CCRN first.</translation>
    </message>
    <message>
      <source>central_unavailable</source>
      <translation>ROCARS cannot be reached now, so this cannot be done. Queries still work. Please try again later.</translation>
    </message>
    <message>
      <source>central_unavailable_maybe_applied</source>
      <translation>ROCARS may have received this before the connection was lost, so it may already be done. Please check with Query or ask staff before trying again.</translation>
    </message>
    <message>
      <source>cert_account_mismatch</source>
      <translation>This certificate belongs to another account.</translation>
    </message>
    <message>
      <source>cert_expired</source>
      <translation>This certificate has expired. Please renew it or sign with the security code.</translation>
    </message>
    <message>
      <source>cert_no_pin</source>
      <translation>This certificate file has no PIN: it cannot be used for signing. Please ask your certificate issuer.</translation>
    </message>
    <message>
      <source>cert_none_found</source>
      <translation>No certificate file (.p12) found on the USB stick. Please insert it and try again.</translation>
    </message>
    <message>
      <source>cert_not_for_signing</source>
      <translation>This certificate cannot be used to sign. Choose your signing certificate, or sign with the security code.</translation>
    </message>
    <message>
      <source>cert_not_yet_valid</source>
      <translation>This certificate is not valid yet.</translation>
    </message>
    <message>
      <source>cert_revoked</source>
      <translation>This certificate has been revoked and cannot be used.</translation>
    </message>
    <message>
      <source>cert_signature_invalid</source>
      <translation>The digital signature could not be verified.</translation>
    </message>
    <message>
      <source>cert_signature_stale</source>
      <translation>The signature is too old. Please sign again.</translation>
    </message>
    <message>
      <source>cert_signature_used</source>
      <translation>This signature has already been used. Please sign again.</translation>
    </message>
    <message>
      <source>cert_unreadable</source>
      <translation>The certificate file cannot be read.</translation>
    </message>
    <message>
      <source>cert_untrusted</source>
      <translation>This certificate is not from a recognised certification authority.</translation>
    </message>
    <message>
      <source>container_invalid</source>
      <translation>A container number is 4 letters and 7 digits.</translation>
    </message>
    <message>
      <source>cp_required</source>
      <translation>Please choose the control point.</translation>
    </message>
    <message>
      <source>credentials_invalid</source>
      <translation>The account number or password is wrong.</translation>
    </message>
    <message>
      <source>direction_required</source>
      <translation>Please choose import or export.</translation>
    </message>
    <message>
      <source>error_unknown</source>
      <translation>The request was refused ({key}). Please ask staff.</translation>
    </message>
    <message>
      <source>expected_date_out_of_window</source>
      <translation>The date must be from {earliest} to {latest} (at most 14 days ahead).</translation>
    </message>
    <message>
      <source>field_bad_date</source>
      <translation>Must be a date as YYYY-MM-DD.</translation>
    </message>
    <message>
      <source>field_bad_direction</source>
      <translation>Must be import or export.</translation>
    </message>
    <message>
      <source>field_invalid</source>
      <translation>Not valid.</translation>
    </message>
    <message>
      <source>field_not_number</source>
      <translation>Must be a whole number.</translation>
    </message>
    <message>
      <source>field_out_of_range</source>
      <translation>Must be from {min} to {max}.</translation>
    </message>
    <message>
      <source>field_required</source>
      <translation>Required.</translation>
    </message>
    <message>
      <source>field_too_long</source>
      <translation>Too long: at most {max} characters.</translation>
    </message>
    <message>
      <source>form_has_errors</source>
      <translation>{count} item(s) need correcting, first: {field}. See the red notes.</translation>
    </message>
    <message>
      <source>kiosk_error</source>
      <translation>Something went wrong. Please try again or ask staff.</translation>
    </message>
    <message>
      <source>kiosk_offline</source>
      <translation>This kiosk cannot reach the control point system. Please try again shortly or ask staff.</translation>
    </message>
    <message>
      <source>media_no_stick</source>
      <translation>No USB stick found. Please insert your USB stick and try again.</translation>
    </message>
    <message>
      <source>media_not_answering</source>
      <translation>The USB stick is not answering. Please take it out, put it in again and try again, or ask staff.</translation>
    </message>
    <message>
      <source>media_not_writable</source>
      <translation>Cannot write to the USB stick. Is it write-protected?</translation>
    </message>
    <message>
      <source>numbers_exhausted</source>
      <translation>ROCARS cannot issue a number now. Please ask staff.</translation>
    </message>
    <message>
      <source>password_required</source>
      <translation>Please enter your password.</translation>
    </message>
    <message>
      <source>payload_too_large</source>
      <translation>Too much data in one request.</translation>
    </message>
    <message>
      <source>pin_required</source>
      <translation>Please enter the PIN of your certificate.</translation>
    </message>
    <message>
      <source>pin_wrong</source>
      <translation>The PIN is wrong, or the file is not a certificate. Please try again.</translation>
    </message>
    <message>
      <source>print_failed</source>
      <translation>The receipt could not be printed. Please note your reference number.</translation>
    </message>
    <message>
      <source>receipt_printed</source>
      <translation>Receipt printed ({file}). Please take it.</translation>
    </message>
    <message>
      <source>security_code_format</source>
      <translation>The security code is the 6 digits your token shows.</translation>
    </message>
    <message>
      <source>security_code_invalid</source>
      <translation>The security code is wrong. Enter the code your token shows now.</translation>
    </message>
    <message>
      <source>security_code_used</source>
      <translation>This security code has already been used. Wait for your token to show its next code, then enter that one.</translation>
    </message>
    <message>
      <source>template_saved</source>
      <translation>Blank template saved to the USB stick: {files}</translation>
    </message>
    <message>
      <source>too_many_attempts</source>
      <translation>Too many wrong sign-ins at this kiosk. Try again in {retry_after} s, or ask an officer.</translation>
    </message>
    <message>
      <source>too_many_ccrns</source>
      <translation>A bundle holds at most {max} CCRNs.</translation>
    </message>
    <message>
      <source>ubr_invalid</source>
      <translation>A UBR is 10 digits. Please check the number.</translation>
    </message>
    <message>
      <source>ubr_not_found</source>
      <translation>UBR {ubr} is not known to ROCARS. Please check the number.</translation>
    </message>
    <message>
      <source>ubr_not_found_never_synced</source>
      <translation>ROCARS cannot be reached now and this control point's copy of the ROCARS records is not complete yet, so UBR {ubr} cannot be checked here. Please try again later or ask staff.</translation>
    </message>
    <message>
      <source>ubr_not_found_stale</source>
      <translation>UBR {ubr} is not in this control point's copy of the ROCARS records as of {time} HKT, and ROCARS cannot be reached now: a recent bundle may not be in the copy yet. Please try again later or ask staff.</translation>
    </message>
    <message>
      <source>unauthorized</source>
      <translation>This kiosk is not authorised. Please ask staff.</translation>
    </message>
    <message>
      <source>validation_error</source>
      <translation>Some details are not valid: {fields}</translation>
    </message>
    <message>
      <source>vrn_again_required</source>
      <translation>Type the vehicle registration number a second time, in the box beside it.</translation>
    </message>
    <message>
      <source>vrn_invalid</source>
      <translation>This is not a Hong Kong vehicle registration number (up to 8 letters and digits).</translation>
    </message>
    <message>
      <source>vrn_mismatch</source>
      <translation>The two numbers differ. Check the plate and type it again.</translation>
    </message>
  </context>
  <context>
    <name>Query</name>
    <message>
      <source>By CCRN</source>
      <translation>By CCRN</translation>
    </message>
    <message>
      <source>By UBR</source>
      <translation>By UBR</translation>
    </message>
    <message>
      <source>CCRN (10 digits)</source>
      <translation>CCRN (10 digits)</translation>
    </message>
    <message>
      <source>Earliest crossing time</source>
      <translation>Earliest crossing time</translation>
    </message>
    <message>
      <source>Query</source>
      <translation>Query</translation>
    </message>
    <message>
      <source>Search</source>
      <translation>Search</translation>
    </message>
    <message>
      <source>UBR (10 digits)</source>
      <translation>UBR (10 digits)</translation>
    </message>
  </context>
  <context>
    <name>QueryResult</name>
    <message>
      <source>Answered from</source>
      <translation>Answered from</translation>
    </message>
    <message>
      <source>Not before {time} HKT</source>
      <translation>Not before {time} HKT</translation>
    </message>
    <message>
      <source>Result for {key}</source>
      <translation>Result for {key}</translation>
    </message>
    <message>
      <source>The centre cannot be reached: this answer comes from the control point's copy as of {time} HKT and may be out of date.</source>
      <translation>The centre cannot be reached: this answer comes from the control point's copy as of {time} HKT and may be out of date.</translation>
    </message>
    <message>
      <source>The control point's copy as of {time} HKT: may be out of date</source>
      <translation>The control point's copy as of {time} HKT: may be out of date</translation>
    </message>
    <message>
      <source>This bundle has been used already: the truck cannot use it again.</source>
      <translation>This bundle has been used already: the truck cannot use it again.</translation>
    </message>
    <message>
      <source>This bundle is cancelled: the truck cannot use it.</source>
      <translation>This bundle is cancelled: the truck cannot use it.</translation>
    </message>
    <message>
      <source>You may cross now (from {time} HKT)</source>
      <translation>You may cross now (from {time} HKT)</translation>
    </message>
    <message>
      <source>not bundled yet</source>
      <translation>not bundled yet</translation>
    </message>
  </context>
  <context>
    <name>Receipt</name>
    <message>
      <source>Printed {time} HKT</source>
      <translation>Printed {time} HKT</translation>
    </message>
    <message>
      <source>ROCARS self-help kiosk</source>
      <translation>ROCARS self-help kiosk</translation>
    </message>
  </context>
  <context>
    <name>Result</name>
    <message>
      <source>Finish</source>
      <translation>Finish</translation>
    </message>
    <message>
      <source>Print receipt</source>
      <translation>Print receipt</translation>
    </message>
  </context>
  <context>
    <name>ShipperMenu</name>
    <message>
      <source>Amend cargo data (until it is bundled)</source>
      <translation>Amend cargo data (until it is bundled)</translation>
    </message>
    <message>
      <source>Batch upload from a USB stick</source>
      <translation>Batch upload from a USB stick</translation>
    </message>
    <message>
      <source>Cargo data</source>
      <translation>Cargo data</translation>
    </message>
    <message>
      <source>Submit cargo data and get a CCRN</source>
      <translation>Submit cargo data and get a CCRN</translation>
    </message>
  </context>
  <context>
    <name>Sign</name>
    <message>
      <source>Signing: bundle {count} CCRN(s) with {vrn}</source>
      <translation>Signing: bundle {count} CCRN(s) with {vrn}</translation>
    </message>
    <message>
      <source>Signing: cancel the whole bundle {ubr}</source>
      <translation>Signing: cancel the whole bundle {ubr}</translation>
    </message>
    <message>
      <source>Signing: take CCRN {ccrn} out of bundle {ubr}</source>
      <translation>Signing: take CCRN {ccrn} out of bundle {ubr}</translation>
    </message>
  </context>
  <context>
    <name>SignCert</name>
    <message>
      <source>Certificate files found on the USB stick:</source>
      <translation>Certificate files found on the USB stick:</translation>
    </message>
    <message>
      <source>Choose your certificate</source>
      <translation>Choose your certificate</translation>
    </message>
  </context>
  <context>
    <name>SignCode</name>
    <message>
      <source>6-digit code shown on your token now</source>
      <translation>6-digit code shown on your token now</translation>
    </message>
    <message>
      <source>Enter the security code</source>
      <translation>Enter the security code</translation>
    </message>
    <message>
      <source>Sign</source>
      <translation>Sign</translation>
    </message>
  </context>
  <context>
    <name>SignIn</name>
    <message>
      <source>Account number (6 digits)</source>
      <translation>Account number (6 digits)</translation>
    </message>
    <message>
      <source>Driver sign-in</source>
      <translation>Driver sign-in</translation>
    </message>
    <message>
      <source>Password</source>
      <translation>Password</translation>
    </message>
    <message>
      <source>Sign in</source>
      <translation>Sign in</translation>
    </message>
  </context>
  <context>
    <name>SignMethod</name>
    <message>
      <source>Digital certificate on a USB stick (e-Cert / ID-Cert)</source>
      <translation>Digital certificate on a USB stick (e-Cert / ID-Cert)</translation>
    </message>
    <message>
      <source>How will you sign?</source>
      <translation>How will you sign?</translation>
    </message>
    <message>
      <source>Security code from my token</source>
      <translation>Security code from my token</translation>
    </message>
  </context>
  <context>
    <name>SignPin</name>
    <message>
      <source>Enter the PIN of your certificate</source>
      <translation>Enter the PIN of your certificate</translation>
    </message>
    <message>
      <source>PIN of {file}</source>
      <translation>PIN of {file}</translation>
    </message>
    <message>
      <source>Sign</source>
      <translation>Sign</translation>
    </message>
  </context>
  <context>
    <name>Start</name>
    <message>
      <source>Choose your language at the top right at any time. What do you need?</source>
      <translation>Choose your language at the top right at any time. What do you need?</translation>
    </message>
    <message>
      <source>Query a bundle, a CCRN or the earliest crossing time</source>
      <translation>Query a bundle, a CCRN or the earliest crossing time</translation>
    </message>
    <message>
      <source>Shipper: submit or amend cargo data</source>
      <translation>Shipper: submit or amend cargo data</translation>
    </message>
    <message>
      <source>Truck driver: bundle or cancel</source>
      <translation>Truck driver: bundle or cancel</translation>
    </message>
    <message>
      <source>Welcome to the ROCARS self-help kiosk</source>
      <translation>Welcome to the ROCARS self-help kiosk</translation>
    </message>
  </context>
  <context>
    <name>Status</name>
    <message>
      <source>Active</source>
      <translation>Active</translation>
    </message>
    <message>
      <source>Bundled</source>
      <translation>Bundled</translation>
    </message>
    <message>
      <source>Cancelled</source>
      <translation>Cancelled</translation>
    </message>
    <message>
      <source>Submitted, not bundled</source>
      <translation>Submitted, not bundled</translation>
    </message>
    <message>
      <source>Used already</source>
      <translation>Used already</translation>
    </message>
  </context>
  <context>
    <name>Window</name>
    <message>
      <source>Are you still there? Everything you entered will be cleared in {seconds} s.</source>
      <translation>Are you still there? Everything you entered will be cleared in {seconds} s.</translation>
    </message>
    <message>
      <source>Finish ✕</source>
      <translation>Finish ✕</translation>
    </message>
    <message>
      <source>I am still here</source>
      <translation>I am still here</translation>
    </message>
    <message>
      <source>Please wait…</source>
      <translation>Please wait…</translation>
    </message>
    <message>
      <source>ROCARS self-help kiosk</source>
      <translation>ROCARS self-help kiosk</translation>
    </message>
    <message>
      <source>Still working… {seconds} s so far. The answer is taking longer than usual; please keep waiting.</source>
      <translation>Still working… {seconds} s so far. The answer is taking longer than usual; please keep waiting.</translation>
    </message>
    <message>
      <source>◀ Back</source>
      <translation>◀ Back</translation>
    </message>
  </context>
</TS>
