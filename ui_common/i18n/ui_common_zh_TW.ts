<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="zh_TW">
  <context>
    <name>Instruction</name>
    <message>
      <source>Bundled for another control point: see officer</source>
      <translation>綑綁的是另一管制站，請見關員</translation>
    </message>
    <message>
      <source>DROP MANIFEST</source>
      <translation>請投入艙單</translation>
    </message>
    <message>
      <source>Drive on to the exit</source>
      <translation>請駛往出口</translation>
    </message>
    <message>
      <source>Drive up to the booth</source>
      <translation>請駛至檢查亭</translation>
    </message>
    <message>
      <source>Earliest crossing time {time}</source>
      <translation>最早過境時間 {time}</translation>
    </message>
    <message>
      <source>Empty truck: press Unladen. Laden: see officer</source>
      <translation>空車請按「空車」鍵；載貨請見關員</translation>
    </message>
    <message>
      <source>Go to inspection bay {bay}</source>
      <translation>請駛往 {bay} 號查驗台</translation>
    </message>
    <message>
      <source>INSPECTION</source>
      <translation>查驗</translation>
    </message>
    <message>
      <source>Instruction expired</source>
      <translation>指示已過期</translation>
    </message>
    <message>
      <source>Lane controller not responding</source>
      <translation>車道控制器沒有回應</translation>
    </message>
    <message>
      <source>Lane controller offline</source>
      <translation>車道控制器離線</translation>
    </message>
    <message>
      <source>Lane offline</source>
      <translation>車道離線</translation>
    </message>
    <message>
      <source>NO BUNDLE</source>
      <translation>沒有綑綁記錄</translation>
    </message>
    <message>
      <source>No connection to the lane</source>
      <translation>與車道失去連線</translation>
    </message>
    <message>
      <source>Offline mode</source>
      <translation>離線模式</translation>
    </message>
    <message>
      <source>Online</source>
      <translation>連線正常</translation>
    </message>
    <message>
      <source>PROCEED</source>
      <translation>放行</translation>
    </message>
    <message>
      <source>Put the paper manifest in the drop box</source>
      <translation>請把紙本艙單投入收集箱</translation>
    </message>
    <message>
      <source>READY</source>
      <translation>準備就緒</translation>
    </message>
    <message>
      <source>STOP</source>
      <translation>停車</translation>
    </message>
    <message>
      <source>See a customs officer</source>
      <translation>請見海關人員</translation>
    </message>
    <message>
      <source>TOO EARLY</source>
      <translation>未到過境時間</translation>
    </message>
    <message>
      <source>WRONG CONTROL POINT</source>
      <translation>管制站不符</translation>
    </message>
    <message>
      <source>Waiting for the lane</source>
      <translation>等待車道指示</translation>
    </message>
    <message>
      <source>Instruction unreadable</source>
      <translation>無法讀取指示</translation>
    </message>
  </context>
</TS>
