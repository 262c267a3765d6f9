<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="en">
  <context>
    <name>Instruction</name>
    <message>
      <source>Bundled for another control point: see officer</source>
      <translation>Bundled for another control point: see officer</translation>
    </message>
    <message>
      <source>DROP MANIFEST</source>
      <translation>DROP MANIFEST</translation>
    </message>
    <message>
      <source>Drive on to the exit</source>
      <translation>Drive on to the exit</translation>
    </message>
    <message>
      <source>Drive up to the booth</source>
      <translation>Drive up to the booth</translation>
    </message>
    <message>
      <source>Earliest crossing time {time}</source>
      <translation>Earliest crossing time {time}</translation>
    </message>
    <message>
      <source>Empty truck: press Unladen. Laden: see officer</source>
      <translation>Empty truck: press Unladen. Laden: see officer</translation>
    </message>
    <message>
      <source>Go to inspection bay {bay}</source>
      <translation>Go to inspection bay {bay}</translation>
    </message>
    <message>
      <source>INSPECTION</source>
      <translation>INSPECTION</translation>
    </message>
    <message>
      <source>Instruction expired</source>
      <translation>Instruction expired</translation>
    </message>
    <message>
      <source>Lane controller not responding</source>
      <translation>Lane controller not responding</translation>
    </message>
    <message>
      <source>Lane controller offline</source>
      <translation>Lane controller offline</translation>
    </message>
    <message>
      <source>Lane offline</source>
      <translation>Lane offline</translation>
    </message>
    <message>
      <source>NO BUNDLE</source>
      <translation>NO BUNDLE</translation>
    </message>
    <message>
      <source>No connection to the lane</source>
      <translation>No connection to the lane</translation>
    </message>
    <message>
      <source>Offline mode</source>
      <translation>Offline mode</translation>
    </message>
    <message>
      <source>Online</source>
      <translation>Online</translation>
    </message>
    <message>
      <source>PROCEED</source>
      <translation>PROCEED</translation>
    </message>
    <message>
      <source>Put the paper manifest in the drop box</source>
      <translation>Put the paper manifest in the drop box</translation>
    </message>
    <message>
      <source>READY</source>
      <translation>READY</translation>
    </message>
    <message>
      <source>STOP</source>
      <translation>STOP</translation>
    </message>
    <message>
      <source>See a customs officer</source>
      <translation>See a customs officer</translation>
    </message>
    <message>
      <source>TOO EARLY</source>
      <translation>TOO EARLY</translation>
    </message>
    <message>
      <source>WRONG CONTROL POINT</source>
      <translation>WRONG CONTROL POINT</translation>
    </message>
    <message>
      <source>Waiting for the lane</source>
      <translation>Waiting for the lane</translation>
    </message>
    <message>
      <source>Instruction unreadable</source>
      <translation>Instruction unreadable</translation>
    </message>
  </context>
</TS>
